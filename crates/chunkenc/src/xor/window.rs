//! Choosing the value windows of a whole XOR chunk at once, for the smallest encoding.
//!
//! Each changed value is written as its XOR with the previous one: either inside the current
//! window of leading and trailing zero bits (`10` + the window's bits) or in a new window
//! (`11` + 5 bits of leading zeros + 6 bits of width + the bits). Any window holding the
//! XOR's set bits may be opened, and every decoder (Prometheus's included) just follows what
//! is written. Prometheus's appender reuses the window whenever the XOR fits in it, so after
//! one wide XOR (an exponent change, a long carry) it keeps paying for the wide window; here
//! a dynamic program over the windows finds the cheapest sequence of choices for a chunk.
//!
//! Only windows whose leading count is some XOR's (clamped) leading-zero count and whose
//! trailing count is some XOR's trailing-zero count need to be considered: the tightest window
//! around the XORs written in one window has exactly such bounds.

/// How one sample's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueCode {
    /// As Prometheus's appender does: `0` if unchanged, the current window if the XOR fits,
    /// otherwise a new window fitted to the XOR.
    Greedy,
    /// In the current window (`10`); the planner only picks it when the XOR fits.
    Reuse,
    /// In a new window (`11`) with these leading and trailing zero counts.
    Open {
        /// Leading zeros (at most 31).
        leading: u8,
        /// Trailing zeros.
        trailing: u8,
    },
}

/// Bits of a value written in the current window, besides the window's bits.
const REUSE_COST: u32 = 2;
/// Bits of a value written in a new window, besides the window's bits.
const OPEN_COST: u32 = 2 + 5 + 6;
/// No way to get there.
const INF: u32 = u32::MAX;
/// The most (window, changed value) pairs the planner keeps track of.
const MAX_PLAN_CELLS: usize = 1 << 22;
/// No window is open yet (before the first changed value).
const NO_WINDOW: u32 = u32::MAX;

/// The leading (clamped to the 5-bit field) and trailing zero counts of a non-zero XOR.
pub(crate) fn zeros(delta: u64) -> (u8, u8) {
    (
        (delta.leading_zeros() as u8).min(31),
        delta.trailing_zeros() as u8,
    )
}

/// The cheapest way to write the values `bits` (one chunk's values in order, as bits): one
/// code per value; the first value (written raw) and unchanged values get
/// [`ValueCode::Greedy`], which writes them as a single `0` bit.
pub(crate) fn plan(bits: &[u64]) -> Vec<ValueCode> {
    let mut codes = vec![ValueCode::Greedy; bits.len()];
    let mut lead_seen = [false; 32];
    let mut trail_seen = [false; 64];
    let mut changed = 0usize;
    for w in bits.windows(2) {
        let d = w[0] ^ w[1];
        if d != 0 {
            let (l, t) = zeros(d);
            lead_seen[usize::from(l)] = true;
            trail_seen[usize::from(t)] = true;
            changed += 1;
        }
    }
    if changed == 0 {
        return codes;
    }
    let mut states: Vec<(u8, u8)> = Vec::new();
    for l in (0..32u8).filter(|&l| lead_seen[usize::from(l)]) {
        for t in (0..64u8).filter(|&t| trail_seen[usize::from(t)]) {
            // A window needs at least one bit (the XOR it was opened for has one).
            if u32::from(l) + u32::from(t) <= 63 {
                states.push((l, t));
            }
        }
    }
    let width: Vec<u32> = states
        .iter()
        .map(|&(l, t)| 64 - u32::from(l) - u32::from(t))
        .collect();
    let n = states.len();
    if n.saturating_mul(changed) > MAX_PLAN_CELLS {
        // A huge chunk of very irregular values: Prometheus's choice, rather than megabytes
        // of bookkeeping (chunks of 120 samples stay far below this).
        return codes;
    }
    // cost[k]: the fewest bits for the values so far, ending with window k open.
    let mut cost = vec![INF; n];
    // The cost while no window has been opened yet (only unchanged values so far).
    let mut no_window = 0u32;
    // Per changed value: for each window, whether it was (re)opened there, and which window
    // was open before (the cheapest one, or NO_WINDOW).
    let mut opened = vec![false; n * changed];
    let mut before = Vec::with_capacity(changed);
    let mut at = Vec::with_capacity(changed);
    for (i, w) in bits.windows(2).enumerate() {
        let d = w[0] ^ w[1];
        if d == 0 {
            for c in &mut cost {
                *c = c.saturating_add(1);
            }
            no_window = no_window.saturating_add(1);
            continue;
        }
        let (ld, td) = zeros(d);
        let (mut best, mut best_k) = (no_window, NO_WINDOW);
        for (k, &c) in cost.iter().enumerate() {
            if c < best {
                best = c;
                best_k = k as u32;
            }
        }
        let row = &mut opened[before.len() * n..(before.len() + 1) * n];
        for k in 0..n {
            let (l, t) = states[k];
            if l > ld || t > td {
                cost[k] = INF;
                continue;
            }
            let reuse = cost[k].saturating_add(REUSE_COST + width[k]);
            let open = best.saturating_add(OPEN_COST + width[k]);
            if open < reuse {
                cost[k] = open;
                row[k] = true;
            } else {
                cost[k] = reuse;
            }
        }
        before.push(best_k);
        at.push(i + 1);
        no_window = INF;
    }
    // The window that holds every XOR (the smallest counts seen) is always reachable.
    let mut k = cost
        .iter()
        .enumerate()
        .min_by_key(|&(_, &c)| c)
        .map_or(0, |(k, _)| k);
    for j in (0..at.len()).rev() {
        if opened[j * n + k] {
            let (leading, trailing) = states[k];
            codes[at[j]] = ValueCode::Open { leading, trailing };
            if before[j] == NO_WINDOW {
                break;
            }
            k = before[j] as usize;
        } else {
            codes[at[j]] = ValueCode::Reuse;
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The bits Prometheus's greedy choice spends on the values (after the first).
    fn greedy_bits(bits: &[u64]) -> u32 {
        let mut window: Option<(u8, u8)> = None;
        let mut total = 0;
        for w in bits.windows(2) {
            let d = w[0] ^ w[1];
            if d == 0 {
                total += 1;
                continue;
            }
            let (l, t) = zeros(d);
            match window {
                Some((wl, wt)) if l >= wl && t >= wt => {
                    total += REUSE_COST + 64 - u32::from(wl) - u32::from(wt);
                }
                _ => {
                    window = Some((l, t));
                    total += OPEN_COST + 64 - u32::from(l) - u32::from(t);
                }
            }
        }
        total
    }

    /// The bits a plan spends, checking that every reuse fits its window.
    fn plan_bits(bits: &[u64], codes: &[ValueCode]) -> u32 {
        let mut window: Option<(u8, u8)> = None;
        let mut total = 0;
        for (i, w) in bits.windows(2).enumerate() {
            let d = w[0] ^ w[1];
            let (l, t) = if d == 0 { (64, 64) } else { zeros(d) };
            match codes[i + 1] {
                ValueCode::Greedy => {
                    assert_eq!(d, 0, "value {} changed but has no code", i + 1);
                    total += 1;
                }
                ValueCode::Reuse => {
                    let (wl, wt) = window.expect("a reuse after an open");
                    assert!(l >= wl && t >= wt, "value {} does not fit", i + 1);
                    total += REUSE_COST + 64 - u32::from(wl) - u32::from(wt);
                }
                ValueCode::Open { leading, trailing } => {
                    assert!(l >= leading && t >= trailing && leading <= 31);
                    window = Some((leading, trailing));
                    total += OPEN_COST + 64 - u32::from(leading) - u32::from(trailing);
                }
            }
        }
        total
    }

    #[test]
    fn beats_the_greedy_choice_on_a_counter() {
        let bits: Vec<u64> = (0..120)
            .map(|k| (1_000_000.0 + 10.0 * f64::from(k)).to_bits())
            .collect();
        let codes = plan(&bits);
        let (opt, greedy) = (plan_bits(&bits, &codes), greedy_bits(&bits));
        assert!(opt < greedy, "{opt} vs {greedy}");
    }

    #[test]
    fn unchanged_values_need_no_window() {
        let bits = vec![1.5f64.to_bits(); 10];
        assert!(plan(&bits).iter().all(|c| *c == ValueCode::Greedy));
        let mut bits = bits;
        bits[7] = 2.5f64.to_bits();
        let codes = plan(&bits);
        assert!(matches!(codes[7], ValueCode::Open { .. }));
        assert!(matches!(
            codes[8],
            ValueCode::Open { .. } | ValueCode::Reuse
        ));
    }

    proptest! {
        #[test]
        fn never_worse_than_greedy(
            values in proptest::collection::vec(prop_oneof![
                any::<u64>(),
                (0u32..64).prop_map(|v| f64::from(v).to_bits()),
                (0u32..1_000_000).prop_map(|v| (f64::from(v) * 10.0).to_bits()),
            ], 0..200),
        ) {
            let codes = plan(&values);
            prop_assert!(plan_bits(&values, &codes) <= greedy_bits(&values));
        }
    }
}
