//! OCI regions as the OCI Go SDK resolves them: a region key (`iad`) or identifier
//! (`us-ashburn-1`, any case) to the identifier, and the identifier to its realm's domain
//! (`oraclecloud.com` for the commercial realm and any region the SDK does not know).

/// Region keys and the identifiers they stand for.
const KEYS: &[(&str, &str)] = &[
    ("phx", "us-phoenix-1"),
    ("iad", "us-ashburn-1"),
    ("aga", "us-saltlake-2"),
    ("sjc", "us-sanjose-1"),
    ("ord", "us-chicago-1"),
    ("fra", "eu-frankfurt-1"),
    ("lhr", "uk-london-1"),
    ("cwl", "uk-cardiff-1"),
    ("ams", "eu-amsterdam-1"),
    ("mad", "eu-madrid-1"),
    ("lin", "eu-milan-1"),
    ("cdg", "eu-paris-1"),
    ("zrh", "eu-zurich-1"),
    ("mel", "ap-melbourne-1"),
    ("bom", "ap-mumbai-1"),
    ("hyd", "ap-hyderabad-1"),
    ("bog", "sa-bogota-1"),
    ("gru", "sa-saopaulo-1"),
    ("scl", "sa-santiago-1"),
    ("vap", "sa-valparaiso-1"),
    ("vcp", "sa-vinhedo-1"),
    ("icn", "ap-seoul-1"),
    ("yny", "ap-chuncheon-1"),
    ("nja", "ap-chiyoda-1"),
    ("ukb", "ap-ibaraki-1"),
    ("ibr", "ap-ibaraki-1"),
    ("nrt", "ap-tokyo-1"),
    ("kix", "ap-osaka-1"),
    ("yul", "ca-montreal-1"),
    ("yyz", "ca-toronto-1"),
    ("jed", "me-jeddah-1"),
    ("dxb", "me-dubai-1"),
    ("qro", "mx-queretaro-1"),
    ("mty", "mx-monterrey-1"),
    ("mtz", "il-jerusalem-1"),
    ("syd", "ap-sydney-1"),
    ("jnb", "af-johannesburg-1"),
    ("sin", "ap-singapore-1"),
    ("xsp", "ap-singapore-2"),
    ("mrs", "eu-marseille-1"),
    ("auh", "me-abudhabi-1"),
    ("arn", "eu-stockholm-1"),
    ("ltn", "uk-gov-london-1"),
    ("brs", "uk-gov-cardiff-1"),
    ("lfi", "us-langley-1"),
    ("luf", "us-luke-1"),
    ("tiw", "us-tacoma-1"),
    ("ric", "us-gov-ashburn-1"),
    ("pia", "us-gov-chicago-1"),
    ("tus", "us-gov-phoenix-1"),
    ("mct", "me-dcc-muscat-1"),
    ("wga", "ap-dcc-canberra-1"),
    ("ork", "eu-dcc-dublin-1"),
    ("snn", "eu-dcc-dublin-2"),
    ("bgy", "eu-dcc-milan-1"),
    ("mxp", "eu-dcc-milan-2"),
    ("dus", "eu-dcc-rating-1"),
    ("dtm", "eu-dcc-rating-2"),
    ("dac", "ap-dcc-gazipur-1"),
    ("sgu", "us-westjordan-1"),
    ("ifp", "us-dcc-phoenix-1"),
    ("gcn", "us-dcc-phoenix-2"),
    ("yum", "us-dcc-phoenix-4"),
    ("str", "eu-frankfurt-2"),
    ("vll", "eu-madrid-2"),
    ("doh", "me-dcc-doha-1"),
    ("beg", "eu-jovanovac-1"),
    ("nap", "eu-dcc-rome-1"),
    ("avz", "eu-dcc-zurich-1"),
    ("tyo", "ap-dcc-tokyo-1"),
    ("uky", "ap-dcc-osaka-1"),
    ("ahu", "me-abudhabi-3"),
    ("ozz", "us-dcc-swjordan-1"),
    ("drs", "us-dcc-swjordan-2"),
    ("izq", "ap-hobsonville-1"),
];

/// The regions outside the commercial realm and their realm's domain.
const DOMAINS: &[(&str, &str)] = &[
    ("us-langley-1", "oraclegovcloud.com"),
    ("us-luke-1", "oraclegovcloud.com"),
    ("us-gov-ashburn-1", "oraclegovcloud.com"),
    ("us-gov-chicago-1", "oraclegovcloud.com"),
    ("us-gov-phoenix-1", "oraclegovcloud.com"),
    ("uk-gov-london-1", "oraclegovcloud.uk"),
    ("uk-gov-cardiff-1", "oraclegovcloud.uk"),
    ("us-tacoma-1", "oraclecloud5.com"),
    ("ap-chiyoda-1", "oraclecloud8.com"),
    ("ap-ibaraki-1", "oraclecloud8.com"),
    ("me-dcc-muscat-1", "oraclecloud9.com"),
    ("ap-dcc-canberra-1", "oraclecloud10.com"),
    ("eu-dcc-dublin-1", "oraclecloud14.com"),
    ("eu-dcc-dublin-2", "oraclecloud14.com"),
    ("eu-dcc-milan-1", "oraclecloud14.com"),
    ("eu-dcc-milan-2", "oraclecloud14.com"),
    ("eu-dcc-rating-1", "oraclecloud14.com"),
    ("eu-dcc-rating-2", "oraclecloud14.com"),
    ("ap-dcc-gazipur-1", "oraclecloud15.com"),
    ("us-westjordan-1", "oraclecloud16.com"),
    ("us-dcc-phoenix-1", "oraclecloud17.com"),
    ("us-dcc-phoenix-2", "oraclecloud17.com"),
    ("us-dcc-phoenix-4", "oraclecloud17.com"),
    ("eu-frankfurt-2", "oraclecloud.eu"),
    ("eu-madrid-2", "oraclecloud.eu"),
    ("eu-jovanovac-1", "oraclecloud20.com"),
    ("me-dcc-doha-1", "oraclecloud21.com"),
    ("eu-dcc-rome-1", "psn-pco.it"),
    ("eu-dcc-zurich-1", "oraclecloud24.com"),
    ("ap-dcc-tokyo-1", "nricloud.jp"),
    ("ap-dcc-osaka-1", "nricloud.jp"),
    ("me-abudhabi-3", "oraclecloud26.com"),
    ("us-dcc-swjordan-1", "oraclecloud27.com"),
    ("us-dcc-swjordan-2", "oraclecloud28.com"),
    ("ap-hobsonville-1", "sovereigncloud.nz"),
];

/// The region identifier and its realm's domain for `region` as configured.
pub(crate) fn resolve(region: &str) -> (String, &'static str) {
    let lower = region.to_ascii_lowercase();
    let id = KEYS
        .iter()
        .find(|(key, _)| *key == lower)
        .map_or(lower.clone(), |(_, id)| (*id).to_owned());
    let domain = DOMAINS
        .iter()
        .find(|(r, _)| *r == id)
        .map_or("oraclecloud.com", |(_, d)| d);
    (id, domain)
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn keys_identifiers_and_realms() {
        assert_eq!(
            resolve("us-ashburn-1"),
            ("us-ashburn-1".into(), "oraclecloud.com")
        );
        assert_eq!(resolve("IAD"), ("us-ashburn-1".into(), "oraclecloud.com"));
        assert_eq!(
            resolve("ric"),
            ("us-gov-ashburn-1".into(), "oraclegovcloud.com")
        );
        assert_eq!(
            resolve("uk-gov-london-1"),
            ("uk-gov-london-1".into(), "oraclegovcloud.uk")
        );
        assert_eq!(resolve("xx-new-1"), ("xx-new-1".into(), "oraclecloud.com"));
    }
}
