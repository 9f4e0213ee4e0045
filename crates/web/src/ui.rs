//! The built-in web UI: small self-contained pages at Prometheus 3's UI paths (`/query`,
//! `/alerts`, `/targets`, ...), rendered in the browser from the HTTP API.
//!
//! Every page is one HTML document with its CSS and JavaScript inlined (no external assets,
//! no CDN). Links and API calls are relative (`api/v1/query`, `targets`), so the pages work
//! under any `--web.route-prefix` and behind a proxy serving `--web.external-url`.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

use std::collections::BTreeMap;

use crate::handler::Options;

/// What the pages depend on: the mode, the flags (`--web.page-title`, `--web.external-url`)
/// and the route prefix.
pub(crate) struct Context<'a> {
    agent: bool,
    flags: &'a BTreeMap<String, String>,
    route_prefix: &'a str,
}

impl<'a> Context<'a> {
    /// The context of a handler's options.
    pub(crate) fn of(opts: &'a Options) -> Context<'a> {
        Context {
            agent: opts.agent,
            flags: &opts.flags,
            route_prefix: &opts.route_prefix,
        }
    }
}

const CSS: &str = include_str!("../ui/style.css");
const COMMON_JS: &str = include_str!("../ui/common.js");
const QUERY_JS: &str = include_str!("../ui/query.js");
const PAGES_JS: &str = include_str!("../ui/pages.js");

/// Prometheus's default `--web.page-title`.
const DEFAULT_TITLE: &str = "Prometheus Time Series Collection and Processing Server";

/// Which modes a page exists in (Prometheus registers some only for the server, one only
/// for the agent).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Both,
    Server,
    Agent,
}

/// A UI page: its path, heading and modes.
struct PageDef {
    path: &'static str,
    heading: &'static str,
    mode: Mode,
    in_nav: bool,
}

const PAGES: &[PageDef] = &[
    PageDef {
        path: "/query",
        heading: "Query",
        mode: Mode::Server,
        in_nav: true,
    },
    PageDef {
        path: "/alerts",
        heading: "Alerts",
        mode: Mode::Server,
        in_nav: true,
    },
    PageDef {
        path: "/agent",
        heading: "Prometheus Agent",
        mode: Mode::Agent,
        in_nav: true,
    },
    PageDef {
        path: "/targets",
        heading: "Targets",
        mode: Mode::Both,
        in_nav: true,
    },
    PageDef {
        path: "/rules",
        heading: "Rules",
        mode: Mode::Server,
        in_nav: true,
    },
    PageDef {
        path: "/service-discovery",
        heading: "Service discovery",
        mode: Mode::Both,
        in_nav: true,
    },
    PageDef {
        path: "/alertmanager-discovery",
        heading: "Alertmanager discovery",
        mode: Mode::Both,
        in_nav: false,
    },
    PageDef {
        path: "/status",
        heading: "Runtime & build information",
        mode: Mode::Both,
        in_nav: true,
    },
    PageDef {
        path: "/tsdb-status",
        heading: "TSDB status",
        mode: Mode::Server,
        in_nav: true,
    },
    PageDef {
        path: "/config",
        heading: "Configuration",
        mode: Mode::Both,
        in_nav: true,
    },
    PageDef {
        path: "/flags",
        heading: "Command-line flags",
        mode: Mode::Both,
        in_nav: true,
    },
];

/// Whether `path` (below the route prefix) is a UI path: a page, or `/graph`.
pub(crate) fn is_ui_path(path: &str) -> bool {
    path == "/graph" || PAGES.iter().any(|p| p.path == path)
}

fn exists(page: &PageDef, agent: bool) -> bool {
    match page.mode {
        Mode::Both => true,
        Mode::Server => !agent,
        Mode::Agent => agent,
    }
}

/// The path of `--web.external-url`, without a trailing slash (Prometheus builds its
/// redirects from it). When the flags are not known (tests, embedders), the route prefix.
fn external_path(opts: &Context<'_>) -> String {
    let path = match opts.flags.get("web.external-url") {
        Some(raw) if !raw.is_empty() => url::Url::parse(raw)
            .map(|u| u.path().to_owned())
            .unwrap_or_default(),
        Some(_) => String::new(),
        None => opts.route_prefix.to_owned(),
    };
    path.trim_end_matches('/').to_owned()
}

/// A `302 Found` to `location`, as Go's `http.Redirect` answers a GET.
pub(crate) fn redirect(location: &str) -> Response<Full<Bytes>> {
    crate::assets::go_redirect(location, StatusCode::FOUND)
}

/// `GET /`: Prometheus 3 redirects to its home page, `/query` (`/agent` in agent mode),
/// under the external URL's path.
pub(crate) fn redirect_home(opts: &Context<'_>) -> Response<Full<Bytes>> {
    let home = if opts.agent { "/agent" } else { "/query" };
    redirect(&format!("{}{home}", external_path(opts)))
}

/// Answers a GET of a UI path (see [`is_ui_path`]): the page, or for `/graph` (the old UI's
/// page) a redirect to `/query` keeping the query string, as Prometheus 3 does.
pub(crate) fn serve(opts: &Context<'_>, path: &str, query: Option<&str>) -> Response<Full<Bytes>> {
    if path == "/graph" {
        // Go appends `?` and the raw query, even an empty one.
        let query = query.unwrap_or_default();
        return redirect(&format!("{}/query?{query}", external_path(opts)));
    }
    let Some(page) = PAGES
        .iter()
        .find(|p| p.path == path && exists(p, opts.agent))
    else {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"404 page not found\n")));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return resp;
    };
    let title = opts
        .flags
        .get("web.page-title")
        .filter(|t| !t.is_empty())
        .map_or(DEFAULT_TITLE, String::as_str);
    let mut resp = Response::new(Full::new(Bytes::from(render(page, title, opts.agent))));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn render(page: &PageDef, title: &str, agent: bool) -> String {
    let title = crate::assets::html_escape(title);
    let mut nav = String::new();
    let home = if agent { "agent" } else { "query" };
    nav.push_str(&format!("<a class=\"brand\" href=\"{home}\">{title}</a>"));
    for p in PAGES.iter().filter(|p| p.in_nav && exists(p, agent)) {
        let class = if p.path == page.path {
            " class=\"active\""
        } else {
            ""
        };
        nav.push_str(&format!(
            "<a{class} href=\"{}\">{}</a>",
            &p.path[1..],
            crate::assets::html_escape(p.heading)
        ));
    }
    let script = if page.path == "/query" {
        QUERY_JS
    } else {
        PAGES_JS
    };
    // The query page shows no heading: the expression box is the page.
    let heading = if page.path == "/query" {
        String::new()
    } else {
        format!("<h1>{}</h1>", crate::assets::html_escape(page.heading))
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n\
         <body data-page=\"{path}\" data-agent=\"{agent}\">\n<header><nav>{nav}</nav></header>\n\
         <main id=\"main\">{heading}</main>\n<script>\n{COMMON_JS}\n{script}</script>\n</body>\n</html>\n",
        path = page.path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_self_contained() {
        for agent in [false, true] {
            for page in PAGES.iter().filter(|p| exists(p, agent)) {
                let html = render(page, "My <Prom>", agent);
                assert!(html.contains("<title>My &lt;Prom&gt;</title>"));
                assert!(html.contains(&format!("data-page=\"{}\"", page.path)));
                // No external assets: no src= or stylesheet links, no absolute URLs.
                assert!(!html.contains(" src="), "{}", page.path);
                assert!(!html.contains("<link"), "{}", page.path);
                let svg_namespace = "http://www.w3.org/2000/svg";
                assert_eq!(
                    html.matches("://").count(),
                    html.matches(svg_namespace).count(),
                    "{}",
                    page.path
                );
                assert!(
                    !html.contains("href=\"/"),
                    "links are relative: {}",
                    page.path
                );
            }
        }
    }

    fn get(ctx: &Context<'_>, path: &str, query: Option<&str>) -> (StatusCode, String, String) {
        let resp = serve(ctx, path, query);
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp.into_body().into_inner().unwrap_or_default();
        (
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[test]
    fn query_page_title_and_redirects() {
        let mut flags = BTreeMap::new();
        flags.insert("web.page-title".to_owned(), "Team Prom".to_owned());
        flags.insert(
            "web.external-url".to_owned(),
            "https://example.com/prom/".to_owned(),
        );
        let server = Context {
            agent: false,
            flags: &flags,
            route_prefix: "/",
        };
        let (status, _, body) = get(&server, "/query", None);
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<title>Team Prom</title>"));
        assert!(body.contains("api(\"query\"") || body.contains("api(\"query\","));
        // The old UI's /graph keeps its parameters; redirects use the external URL's path.
        let (status, location, _) = get(&server, "/graph", Some("g0.expr=up&g0.tab=1"));
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(location, "/prom/query?g0.expr=up&g0.tab=1");
        let (_, location, body) = get(&server, "/graph", None);
        assert_eq!(location, "/prom/query?");
        assert_eq!(body, "<a href=\"/prom/query?\">Found</a>.\n\n");
        let home = redirect_home(&server);
        assert_eq!(home.headers()[header::LOCATION], "/prom/query");
        assert_eq!(
            home.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let (_, _, body) = get(&server, "/graph", Some("g0.expr=up&g0.tab=1"));
        assert_eq!(
            body,
            "<a href=\"/prom/query?g0.expr=up&amp;g0.tab=1\">Found</a>.\n\n"
        );
        for path in [
            "/alerts",
            "/rules",
            "/targets",
            "/service-discovery",
            "/status",
            "/tsdb-status",
            "/config",
            "/flags",
        ] {
            assert_eq!(get(&server, path, None).0, StatusCode::OK, "{path}");
        }
        assert_eq!(get(&server, "/agent", None).0, StatusCode::NOT_FOUND);

        // Agent mode: no query, rules or alerts pages; home is /agent; default title.
        let empty = BTreeMap::new();
        let agent = Context {
            agent: true,
            flags: &empty,
            route_prefix: "/p",
        };
        assert_eq!(
            redirect_home(&agent).headers()[header::LOCATION],
            "/p/agent"
        );
        let (status, _, body) = get(&agent, "/agent", None);
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(&format!("<title>{DEFAULT_TITLE}</title>")));
        for path in ["/query", "/alerts", "/rules", "/tsdb-status"] {
            assert_eq!(get(&agent, path, None).0, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
