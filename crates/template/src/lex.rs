//! The lexer: Go's `text/template/parse/lex.go`, item for item (same trim markers, comments,
//! terminators and error texts).

/// The kind of a lexed item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords (Go's `item > itemKeyword`).
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl ItemType {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            ItemType::Block
                | ItemType::Break
                | ItemType::Continue
                | ItemType::Dot
                | ItemType::Define
                | ItemType::Else
                | ItemType::End
                | ItemType::If
                | ItemType::Nil
                | ItemType::Range
                | ItemType::Template
                | ItemType::With
        )
    }
}

/// One lexed item: its kind, byte offset, text and the line it starts on.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) typ: ItemType,
    pub(crate) pos: usize,
    pub(crate) val: String,
    pub(crate) line: usize,
}

impl std::fmt::Display for Item {
    /// Go's `item.String`, used in "unexpected X in Y" messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", model::strconv::quote(&head))
            }
            _ => f.write_str(&model::strconv::quote(&self.val)),
        }
    }
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
/// A trim marker plus the space beside it.
const TRIM_MARKER_LEN: usize = 2;

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(char::from(b[1]))
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(char::from(b[0])) && b[1] == b'-'
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}

/// Go's `%#U`: `U+00A0`, plus the character quoted when printable.
pub(crate) fn sharp_u(c: char) -> String {
    if model::strconv::is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Quote,
    RawQuote,
    Variable,
    Field,
    Char,
    Number,
    Identifier,
    Done,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: i64,
    items: Vec<Item>,
    newlines: Vec<usize>,
}

/// Lexes `input` completely; the last item is `Eof` or `Error`.
pub(crate) fn lex(input: &str) -> Vec<Item> {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        paren_depth: 0,
        items: Vec::new(),
        newlines: input
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect(),
    };
    let mut state = State::Text;
    loop {
        state = match state {
            State::Text => l.lex_text(),
            State::LeftDelim => l.lex_left_delim(),
            State::Comment => l.lex_comment(),
            State::RightDelim => l.lex_right_delim(),
            State::InsideAction => l.lex_inside_action(),
            State::Space => l.lex_space(),
            State::Quote => l.lex_quote(),
            State::RawQuote => l.lex_raw_quote(),
            State::Variable => l.lex_variable(),
            State::Field => l.lex_field_or_variable(ItemType::Field),
            State::Char => l.lex_char(),
            State::Number => l.lex_number(),
            State::Identifier => l.lex_identifier(),
            State::Done => break,
        };
    }
    l.items
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn line_at(&self, pos: usize) -> usize {
        1 + self.newlines.partition_point(|&n| n < pos)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.rest().chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Steps back over the character before `pos`.
    fn backup(&mut self) {
        if let Some(c) = self.input[..self.pos].chars().next_back() {
            self.pos -= c.len_utf8();
        }
    }

    fn emit(&mut self, typ: ItemType) -> State {
        let item = Item {
            typ,
            pos: self.start,
            val: self.input[self.start..self.pos].to_owned(),
            line: self.line_at(self.start),
        };
        self.start = self.pos;
        self.items.push(item);
        if typ == ItemType::Eof {
            State::Done
        } else {
            State::InsideAction
        }
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn errorf(&mut self, msg: String) -> State {
        self.items.push(Item {
            typ: ItemType::Error,
            pos: self.start,
            val: msg,
            line: self.line_at(self.start),
        });
        State::Done
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT_DELIM),
        }
    }

    fn lex_text(&mut self) -> State {
        if let Some(x) = self.rest().find(LEFT_DELIM) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + LEFT_DELIM.len();
                let trim = if has_left_trim_marker(&self.input[delim_end..]) {
                    right_trim_length(&self.input[self.start..self.pos])
                } else {
                    0
                };
                self.pos -= trim;
                let text = &self.input[self.start..self.pos];
                if !text.is_empty() {
                    self.items.push(Item {
                        typ: ItemType::Text,
                        pos: self.start,
                        val: text.to_owned(),
                        line: self.line_at(self.start),
                    });
                }
                self.pos += trim;
                self.ignore();
            }
            return State::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.emit(ItemType::Text);
        }
        self.emit(ItemType::Eof)
    }

    fn lex_left_delim(&mut self) -> State {
        self.pos += LEFT_DELIM.len();
        let trim = has_left_trim_marker(self.rest());
        let after = if trim { TRIM_MARKER_LEN } else { 0 };
        if self.rest()[after..].starts_with(LEFT_COMMENT) {
            self.pos += after;
            self.ignore();
            return State::Comment;
        }
        self.emit(ItemType::LeftDelim);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        State::InsideAction
    }

    fn lex_comment(&mut self) -> State {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.rest().find(RIGHT_COMMENT) else {
            return self.errorf("unclosed comment".into());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += TRIM_MARKER_LEN;
        }
        self.pos += RIGHT_DELIM.len();
        if trim {
            self.pos += left_trim_length(self.rest());
        }
        self.ignore();
        State::Text
    }

    fn lex_right_delim(&mut self) -> State {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += TRIM_MARKER_LEN;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        self.emit(ItemType::RightDelim);
        if trim {
            self.pos += left_trim_length(self.rest());
            self.ignore();
        }
        State::Text
    }

    fn lex_inside_action(&mut self) -> State {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return State::RightDelim;
            }
            return self.errorf("unclosed left paren".into());
        }
        let Some(r) = self.next() else {
            return self.errorf("unclosed action".into());
        };
        match r {
            c if is_space(c) => {
                self.backup();
                State::Space
            }
            '=' => self.emit(ItemType::Assign),
            ':' => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".into());
                }
                self.emit(ItemType::Declare)
            }
            '|' => self.emit(ItemType::Pipe),
            '"' => State::Quote,
            '`' => State::RawQuote,
            '$' => State::Variable,
            '\'' => State::Char,
            '.' if self.peek().is_some_and(|c| !c.is_ascii_digit()) => State::Field,
            '.' | '+' | '-' | '0'..='9' => {
                self.backup();
                State::Number
            }
            c if is_alphanumeric(c) => {
                self.backup();
                State::Identifier
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(ItemType::LeftParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".into());
                }
                self.emit(ItemType::RightParen)
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(ItemType::Char),
            c => self.errorf(format!("unrecognized character in action: {}", sharp_u(c))),
        }
    }

    fn lex_space(&mut self) -> State {
        let mut spaces = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            spaces += 1;
        }
        // A space followed by "-}}" belongs to the trim marker.
        let before = &self.input[self.pos - 1..];
        if has_right_trim_marker(before) && before[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            self.backup();
            if spaces == 1 {
                return State::InsideAction;
            }
        }
        self.emit(ItemType::Space)
    }

    fn lex_quote(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated quoted string".into()),
                },
                None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::String)
    }

    fn lex_raw_quote(&mut self) -> State {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::RawString)
    }

    fn lex_char(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated character constant".into()),
                },
                None | Some('\n') => {
                    return self.errorf("unterminated character constant".into());
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::CharConstant)
    }

    fn lex_variable(&mut self) -> State {
        if self.at_terminator() {
            return self.emit(ItemType::Variable);
        }
        self.lex_field_or_variable(ItemType::Variable)
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> State {
        if self.at_terminator() {
            return self.emit(if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            });
        }
        let last = loop {
            let r = self.next();
            if !r.is_some_and(is_alphanumeric) {
                if r.is_some() {
                    self.backup();
                }
                break r;
            }
        };
        if !self.at_terminator() {
            return self.errorf(format!(
                "bad character {}",
                last.map_or_else(String::new, sharp_u)
            ));
        }
        self.emit(typ)
    }

    fn lex_identifier(&mut self) -> State {
        loop {
            let r = self.next();
            if r.is_some_and(is_alphanumeric) {
                continue;
            }
            if r.is_some() {
                self.backup();
            }
            if !self.at_terminator() {
                return self.errorf(format!(
                    "bad character {}",
                    r.map_or_else(String::new, sharp_u)
                ));
            }
            let word = &self.input[self.start..self.pos];
            let typ = match word {
                "block" => ItemType::Block,
                "break" => ItemType::Break,
                "continue" => ItemType::Continue,
                "define" => ItemType::Define,
                "else" => ItemType::Else,
                "end" => ItemType::End,
                "if" => ItemType::If,
                "range" => ItemType::Range,
                "nil" => ItemType::Nil,
                "template" => ItemType::Template,
                "with" => ItemType::With,
                "true" | "false" => ItemType::Bool,
                _ => ItemType::Identifier,
            };
            return self.emit(typ);
        }
    }

    fn lex_number(&mut self) -> State {
        if !self.scan_number() {
            let text = self.input[self.start..self.pos].to_owned();
            return self.errorf(format!(
                "bad number syntax: {}",
                model::strconv::quote(&text)
            ));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex: 1+2i. No spaces, must end in 'i'.
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let text = self.input[self.start..self.pos].to_owned();
                return self.errorf(format!(
                    "bad number syntax: {}",
                    model::strconv::quote(&text)
                ));
            }
            return self.emit(ItemType::Complex);
        }
        self.emit(ItemType::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alphanumeric) {
            self.next();
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(ItemType, String)> {
        lex(s).into_iter().map(|i| (i.typ, i.val)).collect()
    }

    #[test]
    fn trim_markers_remove_surrounding_space() {
        use ItemType::*;
        assert_eq!(
            kinds("a  {{- 3 -}}  b"),
            vec![
                (Text, "a".into()),
                (LeftDelim, "{{".into()),
                (Number, "3".into()),
                (RightDelim, "}}".into()),
                (Text, "b".into()),
                (Eof, std::string::String::new()),
            ]
        );
    }

    #[test]
    fn fields_variables_and_keywords() {
        use ItemType::*;
        let got: Vec<ItemType> = lex("{{range $i, $e := .Labels.job}}{{end}}")
            .into_iter()
            .map(|i| i.typ)
            .collect();
        assert_eq!(
            got,
            vec![
                LeftDelim, Range, Space, Variable, Char, Space, Variable, Space, Declare, Space,
                Field, Field, RightDelim, LeftDelim, End, RightDelim, Eof
            ]
        );
    }

    #[test]
    fn errors_are_worded_as_go() {
        let last = |s: &str| lex(s).pop().map(|i| i.val).unwrap_or_default();
        assert_eq!(last("{{"), "unclosed action");
        assert_eq!(
            last("{{ \u{a0}}}"),
            "unrecognized character in action: U+00A0"
        );
        assert_eq!(last("{{/* x }}"), "unclosed comment");
        assert_eq!(
            last("{{/* x */ }}"),
            "comment ends before closing delimiter"
        );
        assert_eq!(last("{{\"abc}}"), "unterminated quoted string");
        assert_eq!(last("{{3x}}"), "bad number syntax: \"3x\"");
        assert_eq!(last("{{(1}}"), "unclosed left paren");
    }
}
