//! Writes a parsed Go expression in the syntax of Rust's `regex` crate, spelling every
//! construct out so that no Rust-specific meaning (set operations in classes, Unicode `\d`,
//! `\<`) can apply.

use std::fmt::Write;

use regex_syntax::hir::ClassUnicode;

use super::parse::Node;

/// The Rust pattern for `node`, anchored at both ends.
pub(crate) fn anchored(node: &Node) -> String {
    let mut out = String::from(r"\A(?:");
    emit(node, &mut out);
    out.push_str(r")\z");
    out
}

/// The anchored Rust pattern for an alternation of literal strings.
pub(crate) fn anchored_literals<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from(r"\A(?:");
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('|');
        }
        part.chars().for_each(|c| push_char(c, &mut out));
    }
    out.push_str(r")\z");
    out
}

fn push_char(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, r"\x{{{:x}}}", c as u32);
    }
}

fn push_class(cls: &ClassUnicode, out: &mut String) {
    if cls.ranges().is_empty() {
        out.push_str(r"[^\x{0}-\x{10ffff}]");
        return;
    }
    out.push('[');
    for r in cls.ranges() {
        push_char(r.start(), out);
        if r.end() != r.start() {
            out.push('-');
            push_char(r.end(), out);
        }
    }
    out.push(']');
}

fn emit(node: &Node, out: &mut String) {
    match node {
        Node::Empty => out.push_str("(?:)"),
        Node::Lit(c) => push_char(*c, out),
        Node::Class(cls) => push_class(cls, out),
        Node::Any { nl: true } => out.push_str("(?s:.)"),
        Node::Any { nl: false } => out.push_str("(?-s:.)"),
        Node::BeginText => out.push_str(r"\A"),
        Node::EndText => out.push_str(r"\z"),
        Node::BeginLine => out.push_str("(?m:^)"),
        Node::EndLine => out.push_str("(?m:$)"),
        Node::WordBoundary => out.push_str(r"(?-u:\b)"),
        Node::NoWordBoundary => out.push_str(r"(?-u:\B)"),
        Node::Capture { sub, .. } => {
            out.push('(');
            emit(sub, out);
            out.push(')');
        }
        Node::Repeat {
            sub,
            min,
            max,
            greedy,
            ..
        } => {
            out.push_str("(?:");
            emit(sub, out);
            out.push(')');
            let _ = match (min, max) {
                (0, None) => write!(out, "*"),
                (1, None) => write!(out, "+"),
                (0, Some(1)) => write!(out, "?"),
                (n, None) => write!(out, "{{{n},}}"),
                (n, Some(m)) if n == m => write!(out, "{{{n}}}"),
                (n, Some(m)) => write!(out, "{{{n},{m}}}"),
            };
            if !greedy {
                out.push('?');
            }
        }
        Node::Concat(v) => v.iter().for_each(|n| emit(n, out)),
        Node::Alt(v) => {
            out.push_str("(?:");
            for (i, n) in v.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                emit(n, out);
            }
            out.push(')');
        }
    }
}
