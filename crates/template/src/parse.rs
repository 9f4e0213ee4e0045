//! The parser: Go's `text/template/parse/parse.go` and `node.go` (the same tree, positions,
//! `String` forms used in error contexts, checks and error texts).

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::lex::{Item, ItemType, lex};

/// Nesting limit for pipelines and control structures; deeper input is rejected as Go rejects
/// input deeper than its own limit (`max expression depth exceeded`).
const MAX_DEPTH: usize = 1000;

/// A list of nodes (Go's `ListNode`).
#[derive(Debug, Default)]
pub(crate) struct List {
    pub(crate) pos: usize,
    pub(crate) nodes: Vec<Node>,
}

/// A node of a list.
#[derive(Debug)]
pub(crate) enum Node {
    Text {
        pos: usize,
        text: String,
    },
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break {
        pos: usize,
    },
    Continue {
        pos: usize,
    },
}

/// The parts of `if`, `range` and `with`.
#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) pos: usize,
    pub(crate) pipe: Pipe,
    pub(crate) list: List,
    pub(crate) else_list: Option<List>,
}

/// A pipeline with optional declarations (Go's `PipeNode`).
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) pos: usize,
    pub(crate) is_assign: bool,
    pub(crate) decl: Vec<Variable>,
    pub(crate) cmds: Vec<Command>,
}

/// A declared variable of a pipeline.
#[derive(Debug)]
pub(crate) struct Variable {
    pub(crate) name: String,
}

/// One command of a pipeline (Go's `CommandNode`).
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) pos: usize,
    pub(crate) args: Vec<Arg>,
}

/// A numeric constant with every interpretation Go's `NumberNode` records.
#[derive(Debug)]
pub(crate) struct Number {
    pub(crate) pos: usize,
    pub(crate) text: String,
    pub(crate) is_int: bool,
    pub(crate) is_uint: bool,
    pub(crate) is_float: bool,
    pub(crate) int: i64,
    pub(crate) float: f64,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Arg {
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Variable {
        pos: usize,
        ident: Vec<String>,
    },
    Field {
        pos: usize,
        ident: Vec<String>,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number(Number),
    String {
        pos: usize,
        quoted: String,
        text: Rc<str>,
    },
    Pipe(Box<Pipe>),
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Variable { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::String { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Number(n) => n.pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Variable { ident, .. } => f.write_str(&ident.join(".")),
            Arg::Field { ident, .. } => ident.iter().try_for_each(|i| write!(f, ".{i}")),
            Arg::Bool { val, .. } => write!(f, "{val}"),
            Arg::Number(n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "({p})"),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(&v.name)?;
            }
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.nodes.iter().try_for_each(|n| write!(f, "{n}"))
    }
}

fn write_branch(f: &mut fmt::Formatter<'_>, kw: &str, b: &Branch) -> fmt::Result {
    write!(f, "{{{{{kw} {}}}}}{}", b.pipe, b.list)?;
    if let Some(e) = &b.else_list {
        write!(f, "{{{{else}}}}{e}")?;
    }
    f.write_str("{{end}}")
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text { text, .. } => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => write_branch(f, "if", b),
            Node::Range(b) => write_branch(f, "range", b),
            Node::With(b) => write_branch(f, "with", b),
            Node::Template { name, pipe, .. } => {
                let name = model::strconv::quote(name);
                match pipe {
                    Some(p) => write!(f, "{{{{template {name} {p}}}}}"),
                    None => write!(f, "{{{{template {name}}}}}"),
                }
            }
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}

impl Node {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Node::Text { pos, .. }
            | Node::Action { pos, .. }
            | Node::Template { pos, .. }
            | Node::Break { pos }
            | Node::Continue { pos } => *pos,
            Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
        }
    }
}

/// Go's `IsEmptyTree`: only blank text and comments.
fn is_empty_list(l: &List) -> bool {
    l.nodes.iter().all(|n| match n {
        Node::Text { text, .. } => text.trim().is_empty(),
        _ => false,
    })
}

/// A parse failure: Go's message and the line it reports.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

type PResult<T> = Result<T, ParseError>;

/// The templates of one parsed text: the main one under its name plus every `define`/`block`.
#[derive(Debug)]
pub(crate) struct Templates {
    pub(crate) trees: HashMap<String, Rc<List>>,
}

/// Parses `text` named `name`; `has_func` says which function names exist.
pub(crate) fn parse(name: &str, text: &str, has_func: &dyn Fn(&str) -> bool) -> PResult<Templates> {
    let items = lex(text);
    let mut p = Parser {
        name,
        items,
        cursor: 0,
        lexed: 0,
        vars: vec!["$".to_owned()],
        range_depth: 0,
        action_line: 0,
        depth: 0,
        trees: HashMap::new(),
        has_func,
    };
    let root = p.parse_root()?;
    p.add(name, root)?;
    Ok(Templates { trees: p.trees })
}

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    cursor: usize,
    /// The furthest item read so far; Go reports errors at its line.
    lexed: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    depth: usize,
    trees: HashMap<String, Rc<List>>,
    has_func: &'a dyn Fn(&str) -> bool,
}

impl Parser<'_> {
    fn item(&mut self, i: usize) -> Item {
        let i = i.min(self.items.len() - 1);
        self.lexed = self.lexed.max(i);
        self.items[i].clone()
    }

    fn next(&mut self) -> Item {
        let it = self.item(self.cursor);
        self.cursor = (self.cursor + 1).min(self.items.len());
        it
    }

    fn peek(&mut self) -> Item {
        self.item(self.cursor)
    }

    fn backup(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.typ != ItemType::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    fn errorf<T>(&mut self, message: String) -> PResult<T> {
        let line = self.items[self.lexed.min(self.items.len() - 1)].line;
        Err(ParseError { line, message })
    }

    fn unexpected<T>(&mut self, token: &Item, context: &str) -> PResult<T> {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_owned();
                }
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, typ: ItemType, context: &str) -> PResult<Item> {
        let token = self.next_non_space();
        if token.typ != typ {
            return self.unexpected(&token, context);
        }
        Ok(token)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.errorf("max expression depth exceeded".into());
        }
        Ok(())
    }

    /// Go's `Tree.add`: a name may be defined once, unless one of the bodies is empty.
    fn add(&mut self, name: &str, list: List) -> PResult<()> {
        match self.trees.get(name) {
            Some(old) if !is_empty_list(old) => {
                if !is_empty_list(&list) {
                    return self.errorf(format!(
                        "template: multiple definition of template {}",
                        model::strconv::quote(name)
                    ));
                }
                Ok(())
            }
            _ => {
                self.trees.insert(name.to_owned(), Rc::new(list));
                Ok(())
            }
        }
    }

    fn parse_root(&mut self) -> PResult<List> {
        let mut root = List {
            pos: self.peek().pos,
            nodes: Vec::new(),
        };
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let save = self.cursor;
                self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.cursor = save;
            }
            let n = self.text_or_action()?;
            match n {
                Parsed::End => return self.errorf("unexpected {{end}}".into()),
                Parsed::Else(_) => return self.errorf("unexpected {{else}}".into()),
                Parsed::Node(n) => root.nodes.push(n),
            }
        }
        Ok(root)
    }

    /// Parses a body in its own scope (a `define` or `block`), as Go's new `Tree` does.
    fn sub_tree(&mut self, context: &str) -> PResult<List> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = vars;
        self.range_depth = range_depth;
        if let Parsed::Else(_) = end {
            return self.errorf(format!("unexpected {{{{else}}}} in {context}"));
        }
        Ok(list)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        if !matches!(token.typ, ItemType::String | ItemType::RawString) {
            return self.unexpected(&token, CONTEXT);
        }
        let name = self.unquote(&token.val)?;
        self.expect(ItemType::RightDelim, CONTEXT)?;
        let list = self.sub_tree(CONTEXT)?;
        self.add(&name, list)
    }

    fn item_list(&mut self) -> PResult<(List, Parsed)> {
        let mut list = List {
            pos: self.peek_non_space().pos,
            nodes: Vec::new(),
        };
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.nodes.push(n),
                end => return Ok((list, end)),
            }
        }
        self.errorf("unexpected EOF".into())
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text {
                pos: token.pos,
                text: token.val,
            })),
            ItemType::LeftDelim => {
                let saved = std::mem::replace(&mut self.action_line, token.line);
                let r = self.action();
                self.action_line = saved;
                r
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(Parsed::Node),
            ItemType::Break | ItemType::Continue => {
                let is_break = token.typ == ItemType::Break;
                let kw = if is_break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, kw);
                }
                if self.range_depth == 0 {
                    return self.errorf(format!("{kw} outside {{{{range}}}}"));
                }
                let pos = token.pos;
                return Ok(Parsed::Node(if is_break {
                    Node::Break { pos }
                } else {
                    Node::Continue { pos }
                }));
            }
            ItemType::Else => return self.else_control(),
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemType::If => return self.control("if").map(|b| Parsed::Node(Node::If(b))),
            ItemType::Range => {
                return self.control("range").map(|b| Parsed::Node(Node::Range(b)));
            }
            ItemType::With => return self.control("with").map(|b| Parsed::Node(Node::With(b))),
            ItemType::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Parsed::Node(Node::Action { pos, pipe }))
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if matches!(peek.typ, ItemType::If | ItemType::With) {
            return Ok(Parsed::Else(peek.pos));
        }
        let t = self.expect(ItemType::RightDelim, "else")?;
        Ok(Parsed::Else(t.pos))
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let nvars = self.vars.len();
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.control_inner(context));
        self.vars.truncate(nvars);
        self.depth -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Parsed::Else(epos) = next {
            // "{{else if ..." and "{{else with ..." nest an if/with that shares the {{end}}.
            let peek = self.peek();
            if context == "if" && peek.typ == ItemType::If {
                self.next();
                let inner = self.control("if")?;
                else_list = Some(List {
                    pos: epos,
                    nodes: vec![Node::If(inner)],
                });
            } else if context == "with" && peek.typ == ItemType::With {
                self.next();
                let inner = self.control("with")?;
                else_list = Some(List {
                    pos: epos,
                    nodes: vec![Node::With(inner)],
                });
            } else {
                let (l, next) = self.item_list()?;
                if let Parsed::Else(_) = next {
                    return self.errorf("expected end; found {{else}}".into());
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, token: &Item, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => self.unquote(&token.val),
            _ => self.unexpected(token, context),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, ItemType::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        self.enter()?;
        let list = self.sub_tree(CONTEXT)?;
        self.depth -= 1;
        self.add(&name, list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        self.enter()?;
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.pipeline_inner(context, end));
        self.depth -= 1;
        r
    }

    fn pipeline_inner(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        'decls: loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            let save = self.cursor;
            self.next();
            let next = self.peek_non_space();
            match next.typ {
                ItemType::Assign | ItemType::Declare => {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push(Variable {
                        name: v.val.clone(),
                    });
                    self.vars.push(v.val);
                }
                ItemType::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(Variable {
                        name: v.val.clone(),
                    });
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue 'decls;
                            }
                            _ => return self.errorf("range can only initialize variables".into()),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                }
                _ => self.cursor = save,
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    if pipe.cmds.is_empty() {
                        return self.errorf(format!("missing value for {context}"));
                    }
                    for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                        if matches!(
                            c.args.first(),
                            Some(
                                Arg::Bool { .. }
                                    | Arg::Dot { .. }
                                    | Arg::Nil { .. }
                                    | Arg::Number(_)
                                    | Arg::String { .. }
                            )
                        ) {
                            return self.errorf(format!(
                                "non executable command in pipeline stage {}",
                                i + 1
                            ));
                        }
                    }
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command {
            pos: self.peek_non_space().pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command".into());
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let f = self.next().val;
            fields.push(f[1..].to_owned());
        }
        Ok(Some(match node {
            Arg::Field { mut ident, .. } => {
                ident.extend(fields);
                Arg::Field { pos, ident }
            }
            Arg::Variable { mut ident, .. } => {
                ident.extend(fields);
                Arg::Variable { pos, ident }
            }
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number(_)
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                let quoted = model::strconv::quote(&node.to_string());
                return self.errorf(format!("unexpected . after term {quoted}"));
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_func)(&token.val) {
                    return self.errorf(format!(
                        "function {} not defined",
                        model::strconv::quote(&token.val)
                    ));
                }
                Arg::Identifier {
                    pos,
                    name: token.val,
                }
            }
            ItemType::Dot => Arg::Dot { pos },
            ItemType::Nil => Arg::Nil { pos },
            ItemType::Variable => {
                if !self.vars.contains(&token.val) {
                    return self.errorf(format!(
                        "undefined variable {}",
                        model::strconv::quote(&token.val)
                    ));
                }
                Arg::Variable {
                    pos,
                    ident: vec![token.val],
                }
            }
            ItemType::Field => Arg::Field {
                pos,
                ident: vec![token.val[1..].to_owned()],
            },
            ItemType::Bool => Arg::Bool {
                pos,
                val: token.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match new_number(pos, &token.val, token.typ) {
                    Ok(n) => Arg::Number(n),
                    Err(e) => return self.errorf(e),
                }
            }
            ItemType::LeftParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", ItemType::RightParen)?,
            )),
            ItemType::String | ItemType::RawString => {
                let text = self.unquote(&token.val)?;
                Arg::String {
                    pos,
                    quoted: token.val,
                    text: text.into(),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn unquote(&mut self, s: &str) -> PResult<String> {
        match unquote(s) {
            Some(u) => Ok(u),
            None => self.errorf("invalid syntax".into()),
        }
    }
}

/// What `text_or_action` found: a node, or the `{{end}}`/`{{else}}` closing a list.
enum Parsed {
    Node(Node),
    End,
    Else(usize),
}

/// Go's `strconv.Unquote` for the literals the lexer produces (double-quoted with Go escapes,
/// or back-quoted raw strings, whose carriage returns are dropped).
pub(crate) fn unquote(s: &str) -> Option<String> {
    if let Some(raw) = s.strip_prefix('`') {
        let body = raw.strip_suffix('`')?;
        if body.contains('`') {
            return None;
        }
        return Some(body.replace('\r', ""));
    }
    let body = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        if rest.starts_with('"') || rest.starts_with('\n') {
            return None;
        }
        let (c, tail) = unquote_char(rest, '"')?;
        match c {
            Unquoted::Char(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Unquoted::Byte(b) => out.push(b),
        }
        rest = tail;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

enum Unquoted {
    Char(char),
    Byte(u8),
}

/// Go's `strconv.UnquoteChar`.
fn unquote_char(s: &str, quote: char) -> Option<(Unquoted, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote {
        return None;
    }
    if c != '\\' {
        return Some((Unquoted::Char(c), chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = |c: char, rest| Some((Unquoted::Char(c), rest));
    match e {
        'a' => simple('\x07', rest),
        'b' => simple('\x08', rest),
        'f' => simple('\x0c', rest),
        'n' => simple('\n', rest),
        'r' => simple('\r', rest),
        't' => simple('\t', rest),
        'v' => simple('\x0b', rest),
        '\\' => simple('\\', rest),
        '\'' | '"' if e == quote => simple(e, rest),
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let v = u32::from_str_radix(digits, 16).ok()?;
            let rest = &rest[n..];
            if e == 'x' {
                if quote == '\'' {
                    return Some((Unquoted::Char(char::from_u32(v)?), rest));
                }
                return Some((Unquoted::Byte(u8::try_from(v).ok()?), rest));
            }
            Some((Unquoted::Char(char::from_u32(v)?), rest))
        }
        '0'..='7' => {
            let digits = rest.get(..2)?;
            let mut v = e as u32 - '0' as u32;
            for b in digits.bytes() {
                if !(b'0'..=b'7').contains(&b) {
                    return None;
                }
                v = (v << 3) | u32::from(b - b'0');
            }
            let rest = &rest[2..];
            let b = u8::try_from(v).ok()?;
            if quote == '\'' {
                return Some((Unquoted::Char(char::from(b)), rest));
            }
            Some((Unquoted::Byte(b), rest))
        }
        _ => None,
    }
}

/// Go's `newNumber`: every interpretation of a numeric constant.
fn new_number(pos: usize, text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        pos,
        text: text.to_owned(),
        is_int: false,
        is_uint: false,
        is_float: false,
        int: 0,
        float: 0.0,
    };
    if typ == ItemType::CharConstant {
        let inner = &text[1..];
        let (c, tail) = unquote_char(inner, '\'').ok_or_else(|| "invalid syntax".to_owned())?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        let v = match c {
            Unquoted::Char(c) => c as u32,
            Unquoted::Byte(b) => u32::from(b),
        };
        n.is_int = true;
        n.is_uint = true;
        n.is_float = true;
        n.int = i64::from(v);
        n.float = f64::from(v);
        return Ok(n);
    }
    if typ == ItemType::Complex || text.ends_with('i') {
        return Err(format!(
            "complex number constants are not supported: {}",
            model::strconv::quote(text)
        ));
    }
    let u = parse_go_uint(text);
    if let Some(i) = parse_go_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if u.is_some() {
        n.is_uint = true;
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if let Some(u) = u {
        n.is_float = true;
        n.float = u as f64;
    } else if let Ok(f) = crate::funcs::parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", model::strconv::quote(text)));
        }
        n.is_float = true;
        n.float = f;
        if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
            n.is_int = true;
            n.int = f as i64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            model::strconv::quote(text)
        ));
    }
    Ok(n)
}

/// Splits a base prefix off Go integer text (base 0 rules) and checks its underscores.
fn int_digits(s: &str) -> Option<(u32, String)> {
    let (radix, digits, prefixed) = if let Some(r) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (16, r, true)
    } else if let Some(r) = s.strip_prefix("0o").or(s.strip_prefix("0O")) {
        (8, r, true)
    } else if let Some(r) = s.strip_prefix("0b").or(s.strip_prefix("0B")) {
        (2, r, true)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..], true)
    } else {
        (10, s, false)
    };
    if digits.is_empty() {
        return None;
    }
    // Underscores only between digits, or between the prefix and a digit.
    let b = digits.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let prev_ok = if i == 0 { prefixed } else { b[i - 1] != b'_' };
            if !prev_ok || i + 1 == b.len() {
                return None;
            }
        }
    }
    Some((radix, digits.replace('_', "")))
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn parse_go_uint(s: &str) -> Option<u64> {
    let (radix, digits) = int_digits(s)?;
    if digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_go_uint(body)?;
    if neg {
        if u <= 1 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        match parse("t", text, &|f| f == "printf") {
            Ok(_) => "ok".into(),
            Err(e) => format!("{}: {}", e.line, e.message),
        }
    }

    #[test]
    fn parse_errors_match_go() {
        assert_eq!(parse_err("{{"), "1: unclosed action");
        assert_eq!(parse_err("{{end}}"), "1: unexpected {{end}}");
        assert_eq!(parse_err("{{if 1}}"), "1: unexpected EOF");
        assert_eq!(parse_err("{{foo}}"), "1: function \"foo\" not defined");
        assert_eq!(parse_err("{{$x}}"), "1: undefined variable \"$x\"");
        assert_eq!(parse_err("{{}}"), "1: missing value for command");
        assert_eq!(
            parse_err("{{1 | 2}}"),
            "1: non executable command in pipeline stage 2"
        );
        assert_eq!(parse_err("{{break}}"), "1: {{break}} outside {{range}}");
        assert_eq!(
            parse_err("{{\"a\".x}}"),
            "1: unexpected . after term \"\\\"a\\\"\""
        );
        assert_eq!(
            parse_err("\n{{if 1}}{{else}}{{else}}{{end}}"),
            "2: expected end; found {{else}}"
        );
        assert_eq!(
            parse_err("{{99999999999999999999}}"),
            "1: integer overflow: \"99999999999999999999\""
        );
        assert_eq!(
            parse_err("{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}"),
            "1: template: multiple definition of template \"a\""
        );
        assert_eq!(
            parse_err("{{range $i, $e, $f := .}}{{end}}"),
            "1: too many declarations in range"
        );
        assert_eq!(
            parse_err("{{1i}}"),
            "1: complex number constants are not supported: \"1i\""
        );
    }

    #[test]
    fn nodes_print_as_go() {
        let t = parse(
            "t",
            "{{if .A.B}}{{$x := printf \"%d\" (1)}}{{end}}",
            &|_| true,
        )
        .unwrap();
        assert_eq!(
            t.trees["t"].to_string(),
            "{{if .A.B}}{{$x := printf \"%d\" (1)}}{{end}}"
        );
    }

    #[test]
    fn numbers_parse_as_go() {
        let n = |s: &str| new_number(0, s, ItemType::Number).map(|n| (n.is_int, n.int, n.float));
        assert_eq!(n("0x1F"), Ok((true, 31, 31.0)));
        assert_eq!(n("1_000"), Ok((true, 1000, 1000.0)));
        assert_eq!(n("017"), Ok((true, 15, 15.0)));
        assert_eq!(n("1.5"), Ok((false, 0, 1.5)));
        assert_eq!(n("1e3"), Ok((true, 1000, 1000.0)));
        assert_eq!(n("-0"), Ok((true, 0, 0.0)));
        assert!(n("1__0").is_err());
    }
}
