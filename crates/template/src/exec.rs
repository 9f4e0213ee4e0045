//! The executor: Go's `text/template/exec.go` (`missingkey=zero`), walking the parsed tree
//! with the same evaluation order, argument checks and error positions.

use std::rc::Rc;

use crate::funcs::{self, Env, Param, Sig};
use crate::gofmt;
use crate::gotime;
use crate::parse::{Arg, Branch, Command, List, Node, Number, Pipe, Templates};
use crate::value::Value;

/// Go's limit on nested template invocations is 100000; ours is lower so that the native
/// stack stays small.
const MAX_TEMPLATE_DEPTH: usize = 10_000;
/// Safety limits Go does not have: a template that loops or grows without bound fails
/// instead of exhausting time or memory.
const MAX_STEPS: u64 = 10_000_000;
const MAX_BYTES: usize = 64 << 20;

/// An execution failure with Go's parts: `template: LOCATION: executing "NAME" at <CONTEXT>:
/// MESSAGE`.
#[derive(Debug)]
pub(crate) struct ExecError {
    pub(crate) location: String,
    pub(crate) template: String,
    pub(crate) context: String,
    pub(crate) message: String,
}

pub(crate) enum Flow {
    Break,
    Continue,
    Err(Box<ExecError>),
}

type R<T> = Result<T, Flow>;

/// The node the executor is at, for error positions (Go's `state.at`).
#[derive(Clone, Copy)]
enum At<'t> {
    Node(&'t Node),
    List(&'t List),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Node(n) => n.pos(),
            At::List(l) => l.pos,
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
        }
    }

    fn context(&self) -> String {
        match self {
            At::Node(n) => n.to_string(),
            At::List(l) => l.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Arg(a) => a.to_string(),
        }
    }
}

/// A method of a value (`(toTime x).Format "2006"`).
#[derive(Clone, Copy)]
enum Callee<'a> {
    Func(&'a str),
    Method(&'a str),
}

pub(crate) struct State<'t, 'e> {
    templates: &'t Templates,
    parse_name: &'t str,
    text: &'t str,
    env: &'e Env<'e>,
    tmpl_name: &'t str,
    vars: Vec<(&'t str, Value)>,
    depth: usize,
    node: Option<At<'t>>,
    steps: u64,
    pub(crate) out: String,
}

/// Executes the template `name` of `templates` with `dot` as data.
pub(crate) fn execute(
    templates: &Templates,
    name: &str,
    text: &str,
    dot: Value,
    env: &Env<'_>,
) -> Result<String, Box<ExecError>> {
    let Some(root) = templates.trees.get(name) else {
        return Err(Box::new(ExecError {
            location: name.to_owned(),
            template: name.to_owned(),
            context: String::new(),
            message: format!(
                "{} is an incomplete or empty template",
                model::strconv::quote(name)
            ),
        }));
    };
    let mut s = State {
        templates,
        parse_name: name,
        text,
        env,
        tmpl_name: name,
        vars: vec![("$", dot.clone())],
        depth: 0,
        node: None,
        steps: 0,
        out: String::new(),
    };
    match s.walk_list(&dot, root) {
        Ok(()) | Err(Flow::Break | Flow::Continue) => Ok(s.out),
        Err(Flow::Err(e)) => Err(e),
    }
}

impl<'t> State<'t, '_> {
    fn at(&mut self, at: At<'t>) {
        self.node = Some(at);
    }

    fn errorf(&self, message: String) -> Flow {
        let (location, context) = match self.node {
            Some(at) => {
                let pos = at.pos().min(self.text.len());
                let before = &self.text[..pos];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => pos - (nl + 1),
                    None => pos,
                };
                (format!("{}:{line}:{col}", self.parse_name), at.context())
            }
            None => (self.parse_name.to_owned(), String::new()),
        };
        Flow::Err(Box::new(ExecError {
            location,
            template: self.tmpl_name.to_owned(),
            context,
            message,
        }))
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.errorf(format!(
                "exceeded maximum number of execution steps ({MAX_STEPS})"
            )));
        }
        if self.out.len() > MAX_BYTES {
            return Err(self.errorf(format!("output exceeds {MAX_BYTES} bytes")));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'t List) -> R<()> {
        self.at(At::List(list));
        for n in &list.nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> R<()> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.walk_node(dot, node))
    }

    fn walk_node(&mut self, dot: &Value, node: &'t Node) -> R<()> {
        self.step()?;
        self.at(At::Node(node));
        match node {
            Node::Text { text, .. } => self.out.push_str(text),
            Node::Action { pipe, .. } => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    match v {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => self.out.push_str(&gofmt::sprint_printable(&v)),
                    }
                }
            }
            Node::If(b) => self.walk_if_or_with(false, dot, b)?,
            Node::With(b) => self.walk_if_or_with(true, dot, b)?,
            Node::Range(b) => self.walk_range(dot, node, b)?,
            Node::Template { name, pipe, .. } => {
                self.walk_template(dot, node, name, pipe.as_ref())?
            }
            Node::Break { .. } => return Err(Flow::Break),
            Node::Continue { .. } => return Err(Flow::Continue),
        }
        Ok(())
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'t Branch) -> R<()> {
        let mark = self.vars.len();
        let r = (|| {
            let v = self.eval_pipeline(dot, &b.pipe)?;
            if v.truth() {
                if with {
                    self.walk_list(&v, &b.list)
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, node: &'t Node, b: &'t Branch) -> R<()> {
        self.at(At::Node(node));
        let mark = self.vars.len();
        let r = self.walk_range_inner(dot, b);
        self.vars.truncate(mark);
        match r {
            Err(Flow::Break) => Ok(()),
            r => r,
        }
    }

    fn walk_range_inner(&mut self, dot: &Value, b: &'t Branch) -> R<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let body_mark = self.vars.len();
        let mut items: Box<dyn Iterator<Item = (Value, Value)>> = match &val {
            Value::Query(q) => {
                let q = q.clone();
                Box::new(
                    (0..q.len())
                        .map(move |i| (Value::Int(i as i64), Value::Sample(Some(q[i].clone())))),
                )
            }
            Value::List(l, _) => {
                let l = l.clone();
                Box::new((0..l.len()).map(move |i| (Value::Int(i as i64), l[i].clone())))
            }
            Value::StrMap(m) => {
                let m = m.clone();
                let keys: Vec<String> = m.keys().cloned().collect();
                Box::new(keys.into_iter().map(move |k| {
                    let v = Value::str(&m[&k]);
                    (Value::str(&k), v)
                }))
            }
            Value::AnyMap(m) => {
                let entries: Vec<(Value, Value)> = m
                    .iter()
                    .map(|(k, v)| (Value::str(k), Value::Iface(Box::new(v.clone()))))
                    .collect();
                Box::new(entries.into_iter())
            }
            Value::Int(_) | Value::Duration(_) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.errorf(format!(
                        "can't use {} to iterate over more than one variable",
                        gofmt::sprint_v(&val)
                    )));
                }
                match val {
                    Value::Int(n) => {
                        Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))))
                    }
                    Value::Duration(n) => {
                        Box::new((0..n.max(0)).map(|i| (Value::Duration(i), Value::Duration(i))))
                    }
                    _ => Box::new(std::iter::empty()),
                }
            }
            Value::Nil => Box::new(std::iter::empty()),
            v => {
                let shown = match v {
                    Value::Sample(Some(s)) => {
                        format!(
                            "{{{} {}}}",
                            gofmt::sprint_v(&Value::StrMap(s.labels.clone())),
                            gofmt::sprint_v(&Value::sample(&s.value))
                        )
                    }
                    v => gofmt::sprint_v(v),
                };
                return Err(self.errorf(format!("range can't iterate over {shown}")));
            }
        };
        let mut ran = false;
        for (index, elem) in &mut items {
            self.step()?;
            ran = true;
            let decl = &b.pipe.decl;
            if let Some(first) = decl.first() {
                if b.pipe.is_assign {
                    let v = if decl.len() > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    self.set_var(&first.name, v)?;
                } else {
                    self.set_top_var(1, elem.clone());
                }
            }
            if let Some(second) = decl.get(1) {
                if b.pipe.is_assign {
                    self.set_var(&second.name, elem.clone())?;
                } else {
                    self.set_top_var(2, index);
                }
            }
            let r = self.walk_list(&elem, &b.list);
            self.vars.truncate(body_mark);
            match r {
                Ok(()) | Err(Flow::Continue) => {}
                Err(f) => return Err(f),
            }
        }
        if !ran && let Some(e) = &b.else_list {
            return self.walk_list(dot, e);
        }
        Ok(())
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        node: &'t Node,
        name: &'t str,
        pipe: Option<&'t Pipe>,
    ) -> R<()> {
        self.at(At::Node(node));
        let Some(tree) = self.templates.trees.get(name) else {
            return Err(self.errorf(format!(
                "template {} not defined",
                model::strconv::quote(name)
            )));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(self.errorf(format!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            )));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let tmpl_name = std::mem::replace(&mut self.tmpl_name, name);
        self.depth += 1;
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.walk_list(&new_dot, tree));
        self.depth -= 1;
        self.tmpl_name = tmpl_name;
        self.vars = vars;
        r
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn set_top_var(&mut self, n: usize, v: Value) {
        let len = self.vars.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            slot.1 = v;
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
            self.at(At::Pipe(pipe));
            let mut value: Option<Value> = None;
            for cmd in &pipe.cmds {
                // Go: "If the object has type interface{}, dig down one level".
                value = Some(self.eval_command(dot, cmd, value)?.unwrap_iface());
            }
            let value = value.unwrap_or(Value::Nil);
            for v in &pipe.decl {
                if pipe.is_assign {
                    self.set_var(&v.name, value.clone())?;
                } else {
                    self.vars.push((&v.name, value.clone()));
                }
            }
            Ok(value)
        })
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            let first = args.first().map(ToString::to_string).unwrap_or_default();
            return Err(self.errorf(format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, fin: Option<Value>) -> R<Value> {
        self.step()?;
        let Some(first) = cmd.args.first() else {
            return Ok(Value::Nil);
        };
        match first {
            Arg::Field { ident, .. } => {
                return self.eval_field_node(dot, first, ident, &cmd.args, fin);
            }
            Arg::Chain { node, fields, .. } => {
                return self.eval_chain_node(dot, first, node, fields, &cmd.args, fin);
            }
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable { ident, .. } => {
                return self.eval_variable_node(dot, first, ident, &cmd.args, fin);
            }
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.errorf("nil is not a command".into())),
            Arg::Number(n) => self.ideal_constant(first, n),
            Arg::String { text, .. } => Ok(Value::Str(text.clone())),
            _ => Err(self.errorf(format!(
                "can't evaluate command {}",
                model::strconv::quote(&first.to_string())
            ))),
        }
    }

    fn ideal_constant(&mut self, arg: &'t Arg, n: &Number) -> R<Value> {
        self.at(At::Arg(arg));
        let t = n.text.trim_start_matches(['+', '-']);
        let hex_int = t.len() > 2
            && t.starts_with('0')
            && matches!(t.as_bytes()[1], b'x' | b'X')
            && !t.contains(['p', 'P']);
        let rune_int = n.text.starts_with('\'');
        if n.is_float && !hex_int && !rune_int && n.text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(n.float));
        }
        if n.is_int {
            return Ok(Value::Int(n.int));
        }
        if n.is_uint {
            return Err(self.errorf(format!("{} overflows int", n.text)));
        }
        Ok(Value::Nil)
    }

    fn eval_field_node(
        &mut self,
        dot: &Value,
        field: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(field));
        self.eval_field_chain(dot, dot.clone(), At::Arg(field), ident, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value,
        chain: &'t Arg,
        node: &'t Arg,
        fields: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(chain));
        if matches!(node, Arg::Nil { .. }) {
            return Err(self.errorf(format!("indirection through explicit nil in {chain}")));
        }
        let pipe = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, pipe, At::Arg(chain), fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Value,
        var: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(var));
        let value = self.var_value(&ident[0])?;
        if ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, At::Arg(var), &ident[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        node: At<'t>,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let Some((last, init)) = ident.split_last() else {
            return Ok(receiver);
        };
        for name in init {
            receiver = self.eval_field(dot, name, node, &[], None, receiver)?;
        }
        self.eval_field(dot, last, node, args, fin, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &'t str,
        node: At<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        if matches!(receiver, Value::Nil) {
            return Ok(Value::Nil);
        }
        let type_name = receiver.type_name();
        let receiver = receiver.unwrap_iface();
        if matches!(receiver, Value::Nil) {
            return Err(self.errorf(format!("nil pointer evaluating {type_name}.{name}")));
        }
        if let Some(sig) = method_sig(&receiver, name) {
            return self.eval_call(
                dot,
                Callee::Method(name),
                sig,
                Some(receiver),
                node,
                args,
                fin,
            );
        }
        let has_args = args.len() > 1 || fin.is_some();
        let field = match (&receiver, name) {
            (Value::Data(d), "Labels") => Some(Value::StrMap(d.labels.clone())),
            (Value::Data(d), "ExternalLabels") => Some(Value::StrMap(d.external_labels.clone())),
            (Value::Data(d), "ExternalURL") => Some(Value::Str(d.external_url.clone())),
            (Value::Data(d), "Value") => Some(Value::Iface(Box::new(Value::sample(&d.value)))),
            (Value::Sample(Some(s)), "Labels") => Some(Value::StrMap(s.labels.clone())),
            (Value::Sample(Some(s)), "Value") => {
                Some(Value::Iface(Box::new(Value::sample(&s.value))))
            }
            (Value::Histogram(h), _) => crate::value::histogram_fields(h)
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v),
            (Value::Span(s), "Offset") => Some(Value::Int(i64::from(s.offset))),
            (Value::Span(s), "Length") => Some(Value::Int(i64::from(s.length))),
            (Value::Sample(None), "Labels" | "Value") => {
                return Err(self.errorf(format!("nil pointer evaluating *template.sample.{name}")));
            }
            (Value::StrMap(m), _) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return Ok(Value::str(m.get(name).map_or("", String::as_str)));
            }
            (Value::AnyMap(m), _) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return Ok(Value::Iface(Box::new(
                    m.get(name).cloned().unwrap_or(Value::Nil),
                )));
            }
            _ => None,
        };
        match field {
            Some(_) if has_args => Err(self.errorf(format!(
                "{name} has arguments but cannot be invoked as function"
            ))),
            Some(v) => Ok(v),
            None => Err(self.errorf(format!("can't evaluate field {name} in type {type_name}"))),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &'t str,
        node: At<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(ident));
        let Some(sig) = funcs::lookup(name) else {
            return Err(self.errorf(format!(
                "{} is not a defined function",
                model::strconv::quote(name)
            )));
        };
        self.eval_call(dot, Callee::Func(name), sig, None, node, args, fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        callee: Callee<'t>,
        sig: Sig,
        receiver: Option<Value>,
        node: At<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let args = args.get(1..).unwrap_or(&[]);
        let name = match callee {
            Callee::Func(n) | Callee::Method(n) => n,
        };
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = sig.params.len();
        if sig.variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {num_fixed} got {}",
                    args.len()
                )));
            }
        } else if num_in != num_fixed {
            return Err(self.errorf(format!(
                "wrong number of args for {name}: want {num_fixed} got {num_in}"
            )));
        }
        let builtin = matches!(callee, Callee::Func(_));
        if builtin && (name == "and" || name == "or") {
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, Some(Param::Refl), a)?;
                if v.truth() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = self.validate_type(f, Some(Param::Refl))?;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let typ = if i < num_fixed {
                sig.params[i]
            } else {
                sig.variadic.unwrap_or(Param::Any)
            };
            argv.push(self.eval_arg(dot, Some(typ), a)?);
        }
        if let Some(f) = fin {
            let typ = match sig.variadic {
                Some(v) if num_in > num_fixed => v,
                _ => sig.params.get(num_in - 1).copied().unwrap_or(Param::Any),
            };
            argv.push(self.validate_type(f, Some(typ))?);
        }
        let result = match callee {
            Callee::Func("call") => {
                let callee_name = args
                    .first()
                    .map_or_else(|| "call".to_owned(), ToString::to_string);
                match argv.first() {
                    None | Some(Value::Nil) => Err("call of nil".to_owned()),
                    Some(v) => Err(format!(
                        "non-function {callee_name} of type {}",
                        v.type_name()
                    )),
                }
            }
            Callee::Func(f) => funcs::call(self.env, f, argv),
            Callee::Method(m) => call_method(receiver.unwrap_or(Value::Nil), m, &argv),
        };
        match result {
            Ok(v) => {
                if v.as_str().is_some_and(|s| s.len() > MAX_BYTES) {
                    self.at(node);
                    return Err(self.errorf(format!("result of {name} exceeds {MAX_BYTES} bytes")));
                }
                Ok(v)
            }
            Err(e) => {
                self.at(node);
                Err(self.errorf(format!("error calling {name}: {e}")))
            }
        }
    }

    fn validate_type(&self, v: Value, typ: Option<Param>) -> R<Value> {
        let Some(typ) = typ else { return Ok(v) };
        // Go unwraps a non-nil interface that is not assignable; a nil one is a type error.
        let v = match v {
            Value::Iface(inner) if matches!(*inner, Value::Nil) => {
                if matches!(typ, Param::Any | Param::Refl) {
                    return Ok(Value::Nil);
                }
                return Err(self.errorf(format!(
                    "wrong type for value; expected {}; got interface {{}}",
                    typ.type_name()
                )));
            }
            v => v.unwrap_iface(),
        };
        match (&v, typ) {
            // Go's canBeNil: interfaces and reflect.Value take an untyped nil.
            (Value::Nil, Param::Any | Param::Refl) => Ok(Value::Nil),
            (Value::Nil, Param::Query) => Ok(Value::Query(Rc::new(Vec::new()))),
            (Value::Nil, Param::Sample) => Ok(Value::Sample(None)),
            (Value::Nil, Param::Str) => {
                Err(self.errorf(format!("invalid value; expected {}", typ.type_name())))
            }
            (_, Param::Any | Param::Refl)
            | (Value::Str(_), Param::Str)
            | (Value::Query(_), Param::Query)
            | (Value::Sample(_), Param::Sample) => Ok(v),
            _ => Err(self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                typ.type_name(),
                v.type_name()
            ))),
        }
    }

    fn eval_arg(&mut self, dot: &Value, typ: Option<Param>, n: &'t Arg) -> R<Value> {
        self.at(At::Arg(n));
        let v = match n {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                return match typ {
                    Some(Param::Any | Param::Refl) | None => Ok(Value::Nil),
                    Some(Param::Query) => Ok(Value::Query(Rc::new(Vec::new()))),
                    Some(Param::Sample) => Ok(Value::Sample(None)),
                    Some(t) => Err(self.errorf(format!("cannot assign nil to {}", t.type_name()))),
                };
            }
            Arg::Field { ident, .. } => {
                self.eval_field_node(dot, n, ident, std::slice::from_ref(n), None)?
            }
            Arg::Variable { ident, .. } => self.eval_variable_node(dot, n, ident, &[], None)?,
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, n, name, At::Arg(n), &[], None)?
            }
            Arg::Chain { node, fields, .. } => {
                self.eval_chain_node(dot, n, node, fields, &[], None)?
            }
            Arg::Bool { val, .. } => {
                return match typ {
                    Some(Param::Any | Param::Refl) | None => Ok(Value::Bool(*val)),
                    Some(Param::Str) => Err(self.errorf(format!("expected string; found {n}"))),
                    Some(t) => Err(self.errorf(format!(
                        "can't handle {n} for arg of type {}",
                        t.type_name()
                    ))),
                };
            }
            Arg::Number(num) => {
                return match typ {
                    Some(Param::Any | Param::Refl) | None => self.ideal_constant(n, num),
                    Some(Param::Str) => Err(self.errorf(format!("expected string; found {n}"))),
                    Some(t) => Err(self.errorf(format!(
                        "can't handle {n} for arg of type {}",
                        t.type_name()
                    ))),
                };
            }
            Arg::String { text, .. } => {
                return match typ {
                    Some(Param::Any | Param::Refl | Param::Str) | None => {
                        Ok(Value::Str(text.clone()))
                    }
                    Some(t) => Err(self.errorf(format!(
                        "can't handle {n} for arg of type {}",
                        t.type_name()
                    ))),
                };
            }
        };
        self.validate_type(v, typ)
    }
}

/// The methods of `*time.Time` and `*time.Duration` that templates can call.
fn method_sig(receiver: &Value, name: &str) -> Option<Sig> {
    const NONE: Sig = Sig {
        params: &[],
        variadic: None,
    };
    match receiver {
        Value::Time(_) => match name {
            "Format" => Some(Sig {
                params: &[Param::Str],
                variadic: None,
            }),
            "String" | "Unix" | "UnixMilli" | "UnixMicro" | "UnixNano" | "Year" | "YearDay"
            | "Day" | "Hour" | "Minute" | "Second" | "Nanosecond" | "UTC" => Some(NONE),
            _ => None,
        },
        Value::Duration(_) => match name {
            "String" | "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds"
            | "Nanoseconds" | "Abs" => Some(NONE),
            _ => None,
        },
        Value::Histogram(_) => (name == "String").then_some(NONE),
        _ => None,
    }
}

fn call_method(receiver: Value, name: &str, args: &[Value]) -> Result<Value, String> {
    match receiver {
        Value::Time(ns) => {
            let c = gotime::civil(ns);
            Ok(match name {
                "Format" => Value::str(&gotime::format(
                    ns,
                    args.first().and_then(Value::as_str).unwrap_or(""),
                )),
                "String" => Value::str(&gotime::time_string(ns)),
                "Unix" => Value::Int(ns.div_euclid(1_000_000_000)),
                "UnixMilli" => Value::Int(ns.div_euclid(1_000_000)),
                "UnixMicro" => Value::Int(ns.div_euclid(1_000)),
                "UnixNano" => Value::Int(ns),
                "Year" => Value::Int(c.year),
                "YearDay" => Value::Int(c.yday),
                "Day" => Value::Int(i64::from(c.day)),
                "Hour" => Value::Int(c.hour),
                "Minute" => Value::Int(c.minute),
                "Second" => Value::Int(c.second),
                "Nanosecond" => Value::Int(c.nanos),
                _ => Value::Time(ns),
            })
        }
        Value::Duration(d) => Ok(match name {
            "String" => Value::str(&gotime::duration_string(d)),
            "Seconds" => Value::Float(secs(d)),
            "Minutes" => Value::Float(secs(d) / 60.0),
            "Hours" => Value::Float(secs(d) / 3600.0),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Microseconds" => Value::Int(d / 1_000),
            "Nanoseconds" => Value::Int(d),
            _ => Value::Duration(if d == i64::MIN { i64::MAX } else { d.abs() }),
        }),
        Value::Histogram(h) => Ok(Value::str(&h.to_go_string())),
        _ => Err(format!("can't call method {name}")),
    }
}

/// Go's `Duration.Seconds`: whole seconds plus the fraction, each converted exactly.
fn secs(d: i64) -> f64 {
    let s = d / 1_000_000_000;
    let ns = d % 1_000_000_000;
    s as f64 + ns as f64 / 1e9
}
