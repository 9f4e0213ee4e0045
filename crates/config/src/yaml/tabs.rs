//! Tabs where libyaml refuses them and the Rust parser takes them: `found character that cannot start any token` and friends, as go-yaml v2 and v3 report them.
//!
//! libyaml refuses a tab in a line's indentation (blank lines included) and right after a
//! sequence entry's `-`, left of a plain scalar's indentation on the lines after it (`found
//! a tab character that violates indentation`) and left of a block scalar's indentation
//! (`found a tab character where an indentation space is expected`). It takes tabs after a
//! value, inside quoted scalars and flow collections, and (go-yaml v3's comment scanner) in
//! a comment line right below another one. Past an explicit end of the first document the
//! scanner still reads up to the next token.

use std::borrow::Cow;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

/// Which go-yaml reports the tab: v2 (the configuration, the web config) names the tab's
/// line, v3 (rule files) the line of what was being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// go-yaml v2.
    V2,
    /// go-yaml v3.
    V3,
}

/// `source` with the tabs leading lines inside flow collections made spaces: libyaml takes
/// them (they are insignificant there), the Rust parser refuses them. Lines and columns
/// stay where they were.
pub fn flow_tabs_as_spaces(source: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(source);
    // Each round fixes the line the parser stopped at.
    for _ in 0..source.matches('\t').count() {
        let mut parser = Parser::new_from_str(&text);
        // Whether each open collection is a flow one.
        let mut flows: Vec<bool> = Vec::new();
        let mut failed = None;
        while let Some(next) = parser.next_event() {
            match next {
                Ok((Event::SequenceStart(style, ..) | Event::MappingStart(style, ..), _)) => {
                    flows.push(style == StructureStyle::Flow);
                }
                Ok((Event::SequenceEnd | Event::MappingEnd, _)) => {
                    flows.pop();
                }
                Ok(_) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let Some(e) = failed else { break };
        if !(flows.last() == Some(&true) && e.info().contains("tab")) {
            break;
        }
        let line = e.marker().line();
        let mut changed = false;
        let fixed: Vec<String> = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| {
                if i + 1 != line {
                    return l.to_string();
                }
                let lead = l.len() - l.trim_start_matches([' ', '\t']).len();
                changed = l[..lead].contains('\t');
                format!("{}{}", " ".repeat(lead), &l[lead..])
            })
            .collect();
        if !changed {
            break;
        }
        text = Cow::Owned(fixed.join("\n"));
    }
    text
}

/// The first tab in `source` that libyaml refuses before any syntax error the Rust parser
/// finds: its 1-based line and go-yaml's whole message (`yaml: line 3: found character that
/// cannot start any token`).
pub fn misplaced_tab(source: &str, flavour: Flavour) -> Option<(u64, String)> {
    let mut layout = Layout::default();
    // The open collections: whether each is a block one, and its 1-based column.
    let mut stack: Vec<(bool, u64)> = Vec::new();
    // Start lines of the open flow collections.
    let mut flows: Vec<u64> = Vec::new();
    let mut in_document = false;
    let mut parser = Parser::new_from_str(source);
    let mut failed_at = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(next) => next,
            Err(e) => {
                failed_at = Some(u64::try_from(e.marker().line()).unwrap_or(0));
                break;
            }
        };
        let line = u64::try_from(span.start.line()).unwrap_or(0);
        let column = u64::try_from(span.start.col()).unwrap_or(0) + 1;
        let end_line = u64::try_from(span.end.line()).unwrap_or(0);
        let end_column = u64::try_from(span.end.col()).unwrap_or(0);
        match event {
            Event::DocumentStart(..) => in_document = true,
            Event::DocumentEnd if in_document => {
                // An explicit end (`---` or `...`); else the input's.
                let marker = source
                    .lines()
                    .nth(usize::try_from(line).unwrap_or(1).saturating_sub(1))
                    .map(str::trim_end);
                if matches!(marker, Some(m) if m == "..." || m.starts_with("---")) {
                    layout.end = line;
                }
                break;
            }
            Event::Scalar(_, style, _, _) if flows.is_empty() => {
                if style == ScalarStyle::Plain {
                    // The scanner's indent: the innermost block collection's column.
                    let indent = stack.last().map_or(0, |(_, c)| *c);
                    layout.plain.push(Plain {
                        start: line,
                        end: end_line,
                        end_column,
                        indent,
                    });
                } else {
                    let last = if end_column == 0 {
                        end_line.saturating_sub(1)
                    } else {
                        end_line
                    };
                    layout.covered.push((line + 1, last));
                    if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                        layout.blocks.push(line);
                    }
                }
            }
            Event::SequenceStart(style, ..) | Event::MappingStart(style, ..) => {
                let block = style == StructureStyle::Block;
                if !block {
                    flows.push(line);
                }
                stack.push((block, column));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((false, _)) = stack.pop()
                    && let Some(start) = flows.pop()
                {
                    layout.covered.push((start + 1, line));
                }
            }
            _ => {}
        }
    }
    match failed_at {
        // libyaml stops at a misplaced tab before the error.
        Some(at) => layout
            .tab_error(source, at, flavour)
            .filter(|(l, _)| *l < at),
        None => layout.tab_error(source, layout.end, flavour),
    }
}

/// Where libyaml's rules about tabs apply, gathered from the events (1-based lines): the
/// Rust parser accepts tabs that libyaml refuses.
#[derive(Default)]
struct Layout {
    /// Lines inside quoted or block scalars and flow collections, where tabs are allowed.
    covered: Vec<(u64, u64)>,
    /// The plain scalars in block context.
    plain: Vec<Plain>,
    /// The header lines of literal and folded scalars.
    blocks: Vec<u64>,
    /// The line the document ends on (0: the end of the input).
    end: u64,
}

/// A plain scalar: its first and last line, where it ends on the last (0-based column),
/// and the indentation its continuation lines must keep (the enclosing block's column).
struct Plain {
    start: u64,
    end: u64,
    end_column: u64,
    indent: u64,
}

impl Layout {
    /// The first misplaced tab up to line `upto` (0: everywhere), as libyaml reports it: a
    /// tab in a line's indentation cannot start a token, and after a plain scalar a tab left
    /// of the scalar's indentation violates it (reported at the scalar's line).
    fn tab_error(&self, source: &str, upto: u64, flavour: Flavour) -> Option<(u64, String)> {
        let lines: Vec<&str> = source.split('\n').collect();
        let last = if upto == 0 {
            u64::try_from(lines.len()).unwrap_or(0)
        } else {
            upto
        };
        let text = |l: u64| {
            usize::try_from(l)
                .ok()
                .and_then(|l| l.checked_sub(1))
                .and_then(|l| lines.get(l))
                .copied()
        };
        let mut consumed: Vec<u64> = Vec::new();
        let mut first: Option<(u64, String)> = None;
        let mut found = |line: u64, message: String| {
            if first.as_ref().is_none_or(|(l, _)| line < *l) {
                first = Some((line, message));
            }
        };
        // go-yaml v2 names the tab's own line (none on the first); v3 the context's.
        let with_line = |line: u64, tab: u64, problem: &str| {
            let line = match flavour {
                Flavour::V2 if tab > 1 => tab,
                Flavour::V2 => 0,
                Flavour::V3 => line,
            };
            if line == 0 {
                format!("yaml: {problem}")
            } else {
                format!("yaml: line {line}: {problem}")
            }
        };
        for p in &self.plain {
            let rest = text(p.end)
                .and_then(|t| t.get(usize::try_from(p.end_column).unwrap_or(usize::MAX)..))
                .unwrap_or("");
            // A key (`:` follows) or a comment ends the scalar where it stands.
            let continues = rest.chars().all(|c| c == ' ' || c == '\t');
            let mut l = p.start + 1;
            while l <= last {
                if l > p.end && !continues {
                    break;
                }
                let Some(t) = text(l) else { break };
                consumed.push(l);
                let mut content = false;
                for (col, c) in t.chars().enumerate() {
                    match c {
                        ' ' => {}
                        '\t' if (col as u64) < p.indent => {
                            // Context: the scalar; its 0-based line, plus one.
                            let at = if p.start > 1 { p.start } else { l };
                            found(
                                l,
                                with_line(at, l, "found a tab character that violates indentation"),
                            );
                            break;
                        }
                        '\t' => {}
                        _ => {
                            content = true;
                            break;
                        }
                    }
                }
                if content && l > p.end {
                    break;
                }
                l += 1;
            }
        }
        // A block scalar's indentation is spaces: a tab left of it (trailing empty lines
        // included) is refused, reported at the header's line.
        for &start in &self.blocks {
            // The scalar may start at its content: its header is the line above then.
            let is_header = |t: &str| {
                let t = t.split(" #").next().unwrap_or("").trim_end();
                let t = t.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
                t.ends_with('|') || t.ends_with('>')
            };
            let header = if text(start).is_some_and(is_header) {
                start
            } else {
                start.saturating_sub(1)
            };
            let indent = ((header + 1)..=last)
                .filter_map(text)
                .find(|t| !t.trim().is_empty())
                .map_or(0, |t| t.len() - t.trim_start_matches(' ').len());
            let mut l = header + 1;
            while let Some(t) = text(l).filter(|_| l <= last) {
                consumed.push(l);
                let spaces = t.len() - t.trim_start_matches(' ').len();
                let rest = &t[spaces..];
                if spaces < indent && rest.starts_with('\t') {
                    let at = if header > 1 { header } else { l };
                    found(
                        l,
                        with_line(
                            at,
                            l,
                            "found a tab character where an indentation space is expected",
                        ),
                    );
                    break;
                }
                if spaces < indent && !rest.trim().is_empty() {
                    consumed.pop();
                    break;
                }
                l += 1;
            }
        }
        // Past an explicit end of the document, the scanner still reads up to the next
        // token.
        let mut last = last;
        if upto > 0 {
            while let Some(t) = text(last + 1) {
                last += 1;
                let t = t.trim_matches([' ', '\t']);
                if !t.is_empty() && !t.starts_with('#') {
                    break;
                }
            }
        }
        for l in 1..=last {
            if consumed.contains(&l) || self.covered.iter().any(|(a, b)| (*a..=*b).contains(&l)) {
                continue;
            }
            let Some(t) = text(l) else { break };
            let lead = t.trim_start_matches(' ');
            // A tab right after an entry's `-` cannot start a token either.
            if let Some(after) = lead.strip_prefix('-')
                && after.starts_with([' ', '\t'])
                && after
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .any(|c| c == '\t')
            {
                let at = if l > 1 { l } else { 0 };
                found(
                    l,
                    with_line(at, l, "found character that cannot start any token"),
                );
                break;
            }
            // A comment right below a comment line is read with it, tabs and all.
            let after_comment = flavour == Flavour::V3
                && l > 1
                && text(l - 1).is_some_and(|p| p.trim_start_matches([' ', '\t']).starts_with('#'));
            if lead.starts_with('\t')
                && !(after_comment && lead.trim_start_matches([' ', '\t']).starts_with('#'))
            {
                let at = if l > 1 { l } else { 0 };
                found(
                    l,
                    with_line(at, l, "found character that cannot start any token"),
                );
                break;
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_names_the_tabs_line_and_v3_the_contexts() {
        let src = "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n\t\n";
        assert_eq!(
            misplaced_tab(src, Flavour::V3).map(|(_, m)| m),
            Some("yaml: line 5: found a tab character that violates indentation".into())
        );
        assert_eq!(
            misplaced_tab(src, Flavour::V2).map(|(_, m)| m),
            Some("yaml: line 6: found a tab character that violates indentation".into())
        );
        // A tab-led comment below a comment: v3's comment scanner takes it.
        let src = "# a\n\t# b\nglobal: {}\n";
        assert_eq!(misplaced_tab(src, Flavour::V3), None);
        assert_eq!(
            misplaced_tab(src, Flavour::V2).map(|(_, m)| m),
            Some("yaml: line 2: found character that cannot start any token".into())
        );
        // On the first line, no line.
        assert_eq!(
            misplaced_tab("\tglobal: {}\n", Flavour::V2).map(|(_, m)| m),
            Some("yaml: found character that cannot start any token".into())
        );
    }

    #[test]
    fn tabs_leading_flow_lines_become_spaces() {
        let src = "a: [\n\t\t1,\n 2]\nb: c\t\n";
        assert_eq!(flow_tabs_as_spaces(src), "a: [\n  1,\n 2]\nb: c\t\n");
        let src = "scrape_configs: [\n\t{job_name: a}\n  ]\n";
        assert_eq!(
            flow_tabs_as_spaces(src),
            "scrape_configs: [\n {job_name: a}\n  ]\n"
        );
        // Elsewhere nothing changes.
        let src = "a:\n\tb: c\n";
        assert_eq!(flow_tabs_as_spaces(src), src);
    }

    #[test]
    fn taken_tabs_are_no_error() {
        for src in [
            "global:\t{}\n",
            "global:\n  external_labels: {a: b,\n\tc: d}\n",
            "global:\n  query_log_file: 'a\n\tb'\n",
            "global:\n  scrape_interval: 1m # note\t\n",
            "global:\n  scrape_interval: 1m\n    \t\n",
        ] {
            assert_eq!(misplaced_tab(src, Flavour::V2), None, "{src:?}");
        }
    }
}
