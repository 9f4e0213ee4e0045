//! A parser for Go's RE2 syntax (`regexp/syntax` with the `Perl` and `DotNL` flags) into a
//! small syntax tree, mirroring Go's parser decisions and error messages.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, HirKind};

/// Go's `maxRepeat`: the largest count in `x{n,m}`, also bounding nested repeat products.
const MAX_REPEAT: i64 = 1000;
/// Go's `maxHeight`: the deepest parse tree accepted.
const MAX_HEIGHT: usize = 1000;
/// How deep groups may nest. Go allows a tree height of 1000; we stop at 250 nested groups
/// (the `regex` crate's default nesting limit) so that neither our recursive passes nor the
/// `regex` compiler can overflow a thread's stack on hostile input.
const MAX_GROUP_NESTING: usize = 250;
/// Go's `maxSize`: the largest compiled program, in instructions (128 MiB / 40 bytes).
const MAX_SIZE: i64 = (128 << 20) / 40;
/// Go's `maxRunes`: the most characters all classes and literals may hold (128 MiB of runes,
/// counting two per class range).
const MAX_RUNES: usize = (128 << 20) / 4;

/// A parse error: Go's error code text and the part of the expression it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) code: &'static str,
    pub(crate) expr: String,
}

pub(crate) const ERR_INVALID_CHAR_RANGE: &str = "invalid character class range";
pub(crate) const ERR_INVALID_ESCAPE: &str = "invalid escape sequence";
pub(crate) const ERR_INVALID_NAMED_CAPTURE: &str = "invalid named capture";
pub(crate) const ERR_INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
pub(crate) const ERR_INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
pub(crate) const ERR_INVALID_REPEAT_SIZE: &str = "invalid repeat count";
pub(crate) const ERR_MISSING_BRACKET: &str = "missing closing ]";
pub(crate) const ERR_MISSING_PAREN: &str = "missing closing )";
pub(crate) const ERR_MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
pub(crate) const ERR_TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
pub(crate) const ERR_UNEXPECTED_PAREN: &str = "unexpected )";
pub(crate) const ERR_NESTING_DEPTH: &str = "expression nests too deeply";
pub(crate) const ERR_LARGE: &str = "expression too large";

type PResult<T> = Result<T, ParseError>;

fn err<T>(code: &'static str, expr: &str) -> PResult<T> {
    Err(ParseError {
        code,
        expr: expr.to_owned(),
    })
}

/// A node of the parsed expression. Flags are already resolved: case folding is applied to
/// classes, `.` knows whether it matches `\n`, anchors know whether they are multi-line, and
/// repetitions know whether they are greedy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Matches the empty string.
    Empty,
    /// One literal character (case-sensitive; case-folded characters become classes).
    Lit(char),
    /// A set of characters, with folding and negation applied.
    Class(ClassUnicode),
    /// `.`: any character, including `\n` when `nl`.
    Any { nl: bool },
    /// `^` without `m`, or `\A`.
    BeginText,
    /// `$` without `m`, or `\z`.
    EndText,
    /// `^` with `m`.
    BeginLine,
    /// `$` with `m`.
    EndLine,
    /// `\b` (ASCII word boundary).
    WordBoundary,
    /// `\B`.
    NoWordBoundary,
    /// A capturing group; `index` counts from 1 in order of the opening parentheses.
    Capture { index: usize, sub: Box<Node> },
    /// A repetition. `braces` marks `x{n,m}` (Go's `OpRepeat`), which nested-count checks
    /// consider, as opposed to `*`, `+` and `?`.
    Repeat {
        sub: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        braces: bool,
    },
    /// A sequence.
    Concat(Vec<Node>),
    /// Alternatives, tried left to right.
    Alt(Vec<Node>),
}

/// A parsed expression and the names of its capture groups (index 0, the whole match, has
/// none).
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub(crate) node: Node,
    pub(crate) names: Vec<Option<String>>,
}

#[derive(Debug, Clone, Copy)]
struct Flags {
    fold: bool,
    dot_nl: bool,
    one_line: bool,
    non_greedy: bool,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    flags: Flags,
    names: Vec<Option<String>>,
    depth: usize,
    runes: usize,
    tables: std::collections::HashMap<String, Option<ClassUnicode>>,
}

/// Parses `src` as Prometheus does: `syntax.Parse(src, syntax.Perl|syntax.DotNL)`.
pub(crate) fn parse(src: &str) -> PResult<Parsed> {
    let mut p = Parser {
        src,
        pos: 0,
        flags: Flags {
            fold: false,
            dot_nl: true,
            one_line: true,
            non_greedy: false,
        },
        names: vec![None],
        depth: 0,
        runes: 0,
        tables: std::collections::HashMap::new(),
    };
    let node = p.parse_alt(false)?;
    if height(&node) > MAX_HEIGHT {
        return err(ERR_NESTING_DEPTH, src);
    }
    if size(&node) > MAX_SIZE {
        return err(ERR_LARGE, src);
    }
    Ok(Parsed {
        node,
        names: p.names,
    })
}

fn concat(mut items: Vec<Node>) -> Node {
    match items.len() {
        0 => Node::Empty,
        1 => items.pop().expect("one item"),
        _ => Node::Concat(items),
    }
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn single(c: char) -> ClassUnicode {
    ClassUnicode::new([ClassUnicodeRange::new(c, c)])
}

fn ascii_class(ranges: &[(char, char)]) -> ClassUnicode {
    ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)))
}

/// Go's `perlGroup`: `\d`, `\s`, `\w` and their negations (ASCII only).
fn perl_group(c: char) -> Option<(ClassUnicode, bool)> {
    let (ranges, neg): (&[(char, char)], bool) = match c {
        'd' => (&[('0', '9')], false),
        'D' => (&[('0', '9')], true),
        's' => (&[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')], false),
        'S' => (&[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')], true),
        'w' => (&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], false),
        'W' => (&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], true),
        _ => return None,
    };
    Some((ascii_class(ranges), neg))
}

/// Go's `posixGroup`: `[:alpha:]` and friends (ASCII only).
fn posix_group(name: &str) -> Option<(ClassUnicode, bool)> {
    let (neg, name) = match name.strip_prefix('^') {
        Some(n) => (true, n),
        None => (false, name),
    };
    let ranges: &[(char, char)] = match name {
        "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
        "alpha" => &[('A', 'Z'), ('a', 'z')],
        "ascii" => &[('\0', '\x7f')],
        "blank" => &[('\t', '\t'), (' ', ' ')],
        "cntrl" => &[('\0', '\x1f'), ('\x7f', '\x7f')],
        "digit" => &[('0', '9')],
        "graph" => &[('!', '~')],
        "lower" => &[('a', 'z')],
        "print" => &[(' ', '~')],
        "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
        "space" => &[('\t', '\r'), (' ', ' ')],
        "upper" => &[('A', 'Z')],
        "word" => &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
        "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
        _ => return None,
    };
    Some((ascii_class(ranges), neg))
}

/// Looks up a Unicode class name as Go's `unicodeTable` does (general categories and their
/// aliases, scripts, `Any`, `Assigned`, `ASCII`), using regex-syntax's tables.
fn unicode_table(name: &str) -> Option<ClassUnicode> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '))
    {
        return None;
    }
    let canon: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let candidates: Vec<String> = match canon.as_str() {
        "any" | "assigned" | "ascii" => vec![format!(r"\p{{{canon}}}")],
        _ => vec![format!(r"\p{{gc={name}}}"), format!(r"\p{{sc={name}}}")],
    };
    for pattern in candidates {
        if let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(&pattern)
            && let HirKind::Class(Class::Unicode(cls)) = hir.kind()
        {
            return Some(cls.clone());
        }
    }
    None
}

/// A class for `(ranges, negated)` with the current folding, as Go's `appendGroup`: fold
/// first, then negate.
fn group(mut cls: ClassUnicode, negated: bool, fold: bool) -> ClassUnicode {
    if fold {
        cls.case_fold_simple();
    }
    if negated {
        cls.negate();
    }
    cls
}

fn unhex(c: char) -> Option<u32> {
    c.to_digit(16)
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, byte_offset: usize) -> Option<u8> {
        self.rest().as_bytes().get(byte_offset).copied()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// A class node, counted against Go's limit on the characters held in classes.
    fn class_node(&mut self, cls: ClassUnicode) -> PResult<Node> {
        self.runes += 2 * cls.ranges().len();
        if self.runes > MAX_RUNES {
            return err(ERR_LARGE, self.src);
        }
        Ok(Node::Class(cls))
    }

    /// A literal character with the current flags: a folded character becomes a class.
    fn literal(&self, c: char) -> Node {
        if self.flags.fold {
            let mut cls = single(c);
            cls.case_fold_simple();
            if cls.ranges().len() > 1 || cls.ranges()[0].start() != cls.ranges()[0].end() {
                return Node::Class(cls);
            }
        }
        Node::Lit(c)
    }

    /// Parses alternatives up to the end of input or (when `in_group`) an unconsumed `)`.
    fn parse_alt(&mut self, in_group: bool) -> PResult<Node> {
        let mut branches: Vec<Node> = Vec::new();
        let mut items: Vec<Node> = Vec::new();
        // Where the previous token started if it was a repetition operator.
        let mut last_repeat: Option<usize> = None;
        while let Some(c) = self.peek() {
            let start = self.pos;
            let mut repeat: Option<usize> = None;
            match c {
                '|' => {
                    self.pos += 1;
                    branches.push(concat(std::mem::take(&mut items)));
                }
                ')' => {
                    if in_group {
                        break;
                    }
                    return err(ERR_UNEXPECTED_PAREN, self.src);
                }
                '(' => {
                    if self.peek_at(1) == Some(b'?') {
                        self.parse_perl_flags(&mut items)?;
                    } else {
                        self.pos += 1;
                        self.names.push(None);
                        let index = self.names.len() - 1;
                        let sub = self.parse_group(self.flags)?;
                        items.push(Node::Capture {
                            index,
                            sub: Box::new(sub),
                        });
                    }
                }
                '^' => {
                    self.pos += 1;
                    items.push(if self.flags.one_line {
                        Node::BeginText
                    } else {
                        Node::BeginLine
                    });
                }
                '$' => {
                    self.pos += 1;
                    items.push(if self.flags.one_line {
                        Node::EndText
                    } else {
                        Node::EndLine
                    });
                }
                '.' => {
                    self.pos += 1;
                    items.push(Node::Any {
                        nl: self.flags.dot_nl,
                    });
                }
                '[' => {
                    let cls = self.parse_class()?;
                    items.push(self.class_node(cls)?);
                }
                '*' | '+' | '?' => {
                    self.pos += 1;
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.repeat(&mut items, min, max, false, start, last_repeat)?;
                    repeat = Some(start);
                }
                '{' => match self.parse_repeat() {
                    None => {
                        self.pos += 1;
                        items.push(self.literal('{'));
                    }
                    Some((min, max, after)) => {
                        self.pos = after;
                        if !(0..=MAX_REPEAT).contains(&min)
                            || max > MAX_REPEAT
                            || (max >= 0 && min > max)
                        {
                            return err(ERR_INVALID_REPEAT_SIZE, &self.src[start..after]);
                        }
                        let max = u32::try_from(max).ok();
                        let min = u32::try_from(min).expect("checked range");
                        self.repeat(&mut items, min, max, true, start, last_repeat)?;
                        repeat = Some(start);
                    }
                },
                '\\' => self.parse_backslash(&mut items)?,
                _ => {
                    self.pos += c.len_utf8();
                    items.push(self.literal(c));
                }
            }
            last_repeat = repeat;
        }
        branches.push(concat(items));
        Ok(if branches.len() == 1 {
            branches.pop().expect("one branch")
        } else {
            Node::Alt(branches)
        })
    }

    /// Parses a group body after its opening token, with `inner` flags, through `)`;
    /// restores the flags afterwards.
    fn parse_group(&mut self, inner: Flags) -> PResult<Node> {
        self.depth += 1;
        if self.depth > MAX_GROUP_NESTING {
            return err(ERR_NESTING_DEPTH, self.src);
        }
        let saved = self.flags;
        self.flags = inner;
        let node = self.parse_alt(true)?;
        if self.peek() != Some(')') {
            return err(ERR_MISSING_PAREN, self.src);
        }
        self.pos += 1;
        self.flags = saved;
        self.depth -= 1;
        Ok(node)
    }

    fn repeat(
        &mut self,
        items: &mut Vec<Node>,
        min: u32,
        max: Option<u32>,
        braces: bool,
        before: usize,
        last_repeat: Option<usize>,
    ) -> PResult<()> {
        let mut non_greedy = self.flags.non_greedy;
        if self.peek() == Some('?') {
            self.pos += 1;
            non_greedy = !non_greedy;
        }
        if let Some(lr) = last_repeat {
            // Perl does not allow stacked repetition operators: a** is an error.
            return err(ERR_INVALID_REPEAT_OP, &self.src[lr..self.pos]);
        }
        let Some(sub) = items.pop() else {
            return err(ERR_MISSING_REPEAT_ARGUMENT, &self.src[before..self.pos]);
        };
        let node = Node::Repeat {
            sub: Box::new(sub),
            min,
            max,
            greedy: !non_greedy,
            braces,
        };
        if braces
            && (min >= 2 || max.is_some_and(|m| m >= 2))
            && !repeat_is_valid(&node, MAX_REPEAT)
        {
            return err(ERR_INVALID_REPEAT_SIZE, &self.src[before..self.pos]);
        }
        items.push(node);
        Ok(())
    }

    /// Go's `parseRepeat`: `{min}`, `{min,}` or `{min,max}` at the current position.
    /// Returns `(min, max, end)` with `max == -1` for no maximum and `-1` for numbers too
    /// large; `None` if the text is not a repetition (then `{` is a literal).
    fn parse_repeat(&self) -> Option<(i64, i64, usize)> {
        let s = self.rest().as_bytes();
        let mut i = 1;
        let (min, n) = parse_int(&s[i..])?;
        i += n;
        let max;
        match s.get(i)? {
            b',' => {
                i += 1;
                if *s.get(i)? == b'}' {
                    max = -1;
                } else {
                    let (m, n) = parse_int(&s[i..])?;
                    i += n;
                    max = m;
                    if m < 0 {
                        return (*s.get(i)? == b'}').then_some((-1, m, self.pos + i + 1));
                    }
                }
            }
            _ => max = min,
        }
        (*s.get(i)? == b'}').then_some((min, max, self.pos + i + 1))
    }

    /// Parses `(?` constructs: named captures, flag changes and non-capturing groups.
    fn parse_perl_flags(&mut self, items: &mut Vec<Node>) -> PResult<()> {
        let start = self.pos;
        let t = self.rest();
        let b = t.as_bytes();
        let starts_with_p = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
        let starts_with_name = b.len() > 3 && b[2] == b'<';
        if starts_with_p || starts_with_name {
            let expr_start = if starts_with_p { 4 } else { 3 };
            let Some(end) = t.find('>') else {
                return err(ERR_INVALID_NAMED_CAPTURE, t);
            };
            let capture = &t[..end + 1];
            let name = &t[expr_start..end];
            if name.is_empty() || !name.chars().all(|c| c == '_' || is_alnum(c)) {
                return err(ERR_INVALID_NAMED_CAPTURE, capture);
            }
            self.pos += end + 1;
            self.names.push(Some(name.to_owned()));
            let index = self.names.len() - 1;
            let sub = self.parse_group(self.flags)?;
            items.push(Node::Capture {
                index,
                sub: Box::new(sub),
            });
            return Ok(());
        }

        self.pos += 2;
        let mut flags = self.flags;
        let mut positive = true;
        let mut saw_flag = false;
        while let Some(c) = self.next_char() {
            match c {
                'i' => {
                    flags.fold = positive;
                    saw_flag = true;
                }
                'm' => {
                    flags.one_line = !positive;
                    saw_flag = true;
                }
                's' => {
                    flags.dot_nl = positive;
                    saw_flag = true;
                }
                'U' => {
                    flags.non_greedy = positive;
                    saw_flag = true;
                }
                '-' => {
                    if !positive {
                        break;
                    }
                    positive = false;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if !positive && !saw_flag {
                        break;
                    }
                    if c == ':' {
                        let sub = self.parse_group(flags)?;
                        items.push(sub);
                    } else {
                        self.flags = flags;
                    }
                    return Ok(());
                }
                _ => break,
            }
        }
        err(ERR_INVALID_PERL_OP, &self.src[start..self.pos])
    }

    /// Handles a `\` outside a class.
    fn parse_backslash(&mut self, items: &mut Vec<Node>) -> PResult<()> {
        match self.peek_at(1) {
            Some(b'A') => {
                self.pos += 2;
                items.push(Node::BeginText);
                return Ok(());
            }
            Some(b'b') => {
                self.pos += 2;
                items.push(Node::WordBoundary);
                return Ok(());
            }
            Some(b'B') => {
                self.pos += 2;
                items.push(Node::NoWordBoundary);
                return Ok(());
            }
            Some(b'C') => return err(ERR_INVALID_ESCAPE, &self.rest()[..2]),
            Some(b'Q') => {
                // \Q ... \E: everything in between is literal.
                let body = &self.rest()[2..];
                let (lit, consumed) = match body.find(r"\E") {
                    Some(i) => (&body[..i], i + 2),
                    None => (body, body.len()),
                };
                for c in lit.chars() {
                    items.push(self.literal(c));
                }
                self.pos += 2 + consumed;
                return Ok(());
            }
            Some(b'z') => {
                self.pos += 2;
                items.push(Node::EndText);
                return Ok(());
            }
            Some(b'p' | b'P') => {
                let cls = self.parse_unicode_class()?;
                items.push(self.class_node(cls)?);
                return Ok(());
            }
            _ => {}
        }
        if let Some(cls) = self.parse_perl_class_escape() {
            items.push(self.class_node(cls)?);
            return Ok(());
        }
        let c = self.parse_escape()?;
        items.push(self.literal(c));
        Ok(())
    }

    /// Go's `parsePerlClassEscape`: `\d`, `\D`, `\s`, `\S`, `\w`, `\W`.
    fn parse_perl_class_escape(&mut self) -> Option<ClassUnicode> {
        let b = self.rest().as_bytes();
        if b.len() < 2 || b[0] != b'\\' {
            return None;
        }
        let (cls, neg) = perl_group(char::from(b[1]))?;
        self.pos += 2;
        Some(group(cls, neg, self.flags.fold))
    }

    /// Go's `parseUnicodeClass` for `\pN`, `\p{Name}`, `\PN`, `\P{^Name}`.
    fn parse_unicode_class(&mut self) -> PResult<ClassUnicode> {
        let s = self.rest();
        let mut negated = s.as_bytes()[1] == b'P';
        let after = &s[2..];
        let (seq, name, consumed) = match after.chars().next() {
            Some('{') => {
                let Some(end) = s.find('}') else {
                    return err(ERR_INVALID_CHAR_RANGE, s);
                };
                (&s[..end + 1], &s[3..end], end + 1)
            }
            Some(c) => {
                let n = 2 + c.len_utf8();
                (&s[..n], &s[2..n], n)
            }
            None => (s, "", s.len()),
        };
        let name = match name.strip_prefix('^') {
            Some(n) => {
                negated = !negated;
                n
            }
            None => name,
        };
        let table = self
            .tables
            .entry(name.to_owned())
            .or_insert_with(|| unicode_table(name))
            .clone();
        let Some(table) = table else {
            return err(ERR_INVALID_CHAR_RANGE, seq);
        };
        self.pos += consumed;
        Ok(group(table, negated, self.flags.fold))
    }

    /// Go's `parseEscape`: a single-character escape at the current `\`.
    fn parse_escape(&mut self) -> PResult<char> {
        let start = self.pos;
        self.pos += 1;
        let invalid = |p: &Parser<'_>| err(ERR_INVALID_ESCAPE, &p.src[start..p.pos]);
        let Some(c) = self.next_char() else {
            return err(ERR_TRAILING_BACKSLASH, "");
        };
        match c {
            '1'..='7' | '0' => {
                // A single non-zero digit would be a backreference, which RE2 lacks.
                let next_is_octal = matches!(self.peek(), Some('0'..='7'));
                if c != '0' && !next_is_octal {
                    return invalid(self);
                }
                let mut r = c as u32 - '0' as u32;
                for _ in 1..3 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            r = r * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                Ok(char::from_u32(r).expect("three octal digits form a valid char"))
            }
            'x' => {
                let Some(c) = self.next_char() else {
                    return invalid(self);
                };
                if c == '{' {
                    let mut r: u32 = 0;
                    let mut nhex = 0;
                    loop {
                        let Some(c) = self.next_char() else {
                            return invalid(self);
                        };
                        if c == '}' {
                            break;
                        }
                        let Some(v) = unhex(c) else {
                            return invalid(self);
                        };
                        r = r * 16 + v;
                        if r > 0x10ffff {
                            return invalid(self);
                        }
                        nhex += 1;
                    }
                    if nhex == 0 {
                        return invalid(self);
                    }
                    // Go accepts surrogate code points here; they can never match UTF-8 text.
                    return char::from_u32(r).map_or_else(|| invalid(self), Ok);
                }
                let x = unhex(c);
                let y = self.next_char().and_then(unhex);
                match (x, y) {
                    (Some(x), Some(y)) => Ok(char::from_u32(x * 16 + y).expect("a byte value")),
                    _ => invalid(self),
                }
            }
            'a' => Ok('\x07'),
            'f' => Ok('\x0c'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'v' => Ok('\x0b'),
            c if c.is_ascii() && !is_alnum(c) => Ok(c),
            _ => invalid(self),
        }
    }

    /// Go's `parseClassChar`.
    fn parse_class_char(&mut self, class_start: usize) -> PResult<char> {
        match self.peek() {
            None => err(ERR_MISSING_BRACKET, &self.src[class_start..]),
            Some('\\') => self.parse_escape(),
            Some(c) => {
                self.pos += c.len_utf8();
                Ok(c)
            }
        }
    }

    /// Go's `parseClass`: a bracketed class at the current `[`.
    fn parse_class(&mut self) -> PResult<ClassUnicode> {
        let class_start = self.pos;
        self.pos += 1;
        let mut negated = false;
        if self.peek() == Some('^') {
            negated = true;
            self.pos += 1;
        }
        let mut cls = ClassUnicode::empty();
        let mut first = true;
        while self.peek() != Some(']') || first {
            first = false;
            let t = self.rest();
            // POSIX [:alnum:] etc.
            if t.len() > 2
                && t.starts_with("[:")
                && let Some(i) = t[2..].find(":]")
            {
                let name = &t[..i + 4];
                let Some((g, neg)) = posix_group(&t[2..i + 2]) else {
                    return err(ERR_INVALID_CHAR_RANGE, name);
                };
                cls.union(&group(g, neg, self.flags.fold));
                self.pos += name.len();
                continue;
            }
            if t.len() >= 2 && (t.starts_with(r"\p") || t.starts_with(r"\P")) {
                let u = self.parse_unicode_class()?;
                cls.union(&u);
                continue;
            }
            if let Some(p) = self.parse_perl_class_escape() {
                cls.union(&p);
                continue;
            }
            let range_start = self.pos;
            let lo = self.parse_class_char(class_start)?;
            let mut hi = lo;
            let b = self.rest().as_bytes();
            if b.len() >= 2 && b[0] == b'-' && b[1] != b']' {
                self.pos += 1;
                hi = self.parse_class_char(class_start)?;
                if hi < lo {
                    return err(ERR_INVALID_CHAR_RANGE, &self.src[range_start..self.pos]);
                }
            }
            let mut r = ClassUnicode::new([ClassUnicodeRange::new(lo, hi)]);
            if self.flags.fold {
                r.case_fold_simple();
            }
            cls.union(&r);
        }
        self.pos += 1;
        if negated {
            cls.negate();
        }
        Ok(cls)
    }
}

/// Go's `parseInt`: decimal digits without leading zeros; `-1` when the value is too large.
/// Returns the value and the number of bytes read.
fn parse_int(s: &[u8]) -> Option<(i64, usize)> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || (n >= 2 && s[0] == b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for &d in &s[..n] {
        if v >= 100_000_000 {
            v = -1;
            break;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some((v, n))
}

/// Go's `repeatIsValid`: no repetition, combined with the repetitions inside it, may make
/// more than `n` copies of anything.
fn repeat_is_valid(node: &Node, mut n: i64) -> bool {
    if let Node::Repeat {
        min, max, braces, ..
    } = node
        && *braces
    {
        let m = match max {
            Some(0) => return true,
            Some(m) => i64::from(*m),
            None => i64::from(*min),
        };
        if m > n {
            return false;
        }
        if m > 0 {
            n /= m;
        }
    }
    children(node).iter().all(|c| repeat_is_valid(c, n))
}

fn children(node: &Node) -> &[Node] {
    match node {
        Node::Capture { sub, .. } | Node::Repeat { sub, .. } => std::slice::from_ref(sub),
        Node::Concat(v) | Node::Alt(v) => v,
        _ => &[],
    }
}

/// The height of the tree, as Go counts it (runs of literals count as one node).
fn height(node: &Node) -> usize {
    1 + children(node).iter().map(height).max().unwrap_or(0)
}

/// Go's `calcSize`: an estimate of the compiled program size in instructions.
fn size(node: &Node) -> i64 {
    let s = match node {
        Node::Lit(_) => 1,
        Node::Capture { sub, .. } => 2 + size(sub),
        Node::Repeat { sub, min, max, .. } => {
            let sub = size(sub);
            let (min, max) = (i64::from(*min), max.map(i64::from));
            match (min, max) {
                (0, None) => 2 + sub,
                (1, None) | (0, Some(1)) => 1 + sub,
                (min, None) => 1 + min.saturating_mul(sub),
                (min, Some(max)) => max.saturating_mul(sub).saturating_add(max - min),
            }
        }
        Node::Concat(v) => v.iter().map(size).fold(0i64, i64::saturating_add),
        Node::Alt(v) => v
            .iter()
            .map(size)
            .fold(0i64, i64::saturating_add)
            .saturating_add(v.len() as i64 - 1),
        _ => 1,
    };
    s.max(1)
}
