//! The PromQL abstract syntax tree (mirrors Go's promql/parser/ast.go); it holds no data.

use std::fmt;

use model::Matcher;

use super::functions::Function;

/// A byte range `[start, end)` in the query text that a node was parsed from.
///
/// Positions are bookkeeping, not meaning: two `PosRange`s always compare equal, so ASTs
/// parsed from differently formatted but equivalent queries are `==`. Compare the fields
/// directly to test positions.
#[derive(Debug, Clone, Copy, Default)]
pub struct PosRange {
    /// Offset of the first byte of the node.
    pub start: usize,
    /// Offset one past the last byte of the node.
    pub end: usize,
}

impl PosRange {
    /// A range from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> PosRange {
        PosRange { start, end }
    }
}

impl PartialEq for PosRange {
    fn eq(&self, _: &PosRange) -> bool {
        true
    }
}

/// The type an expression evaluates to (Go's `ValueType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No type (only for invalid or statement nodes).
    None,
    /// A single number.
    Scalar,
    /// An instant vector: one sample per series.
    Vector,
    /// A range vector: a window of samples per series.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// Go's `String()`: `none`, `scalar`, `vector`, `matrix`, `string`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// Go's `DocumentedType`: the name used in error messages and the docs
    /// (`instant vector`, `range vector`, `scalar`, `string`).
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PromQL expression.
///
/// Every variant's node knows its [`PosRange`] (see [`Expr::pos`]) and its type
/// ([`Expr::value_type`]). `Display` prints canonical PromQL exactly like Go's `String()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `sum by (job) (x)`, `topk(3, x)`.
    Aggregate(AggregateExpr),
    /// `a + on (x) b`.
    Binary(BinaryExpr),
    /// `rate(x[5m])`.
    Call(Call),
    /// `x[5m]`.
    MatrixSelector(MatrixSelector),
    /// `x[1h:5m]`.
    Subquery(SubqueryExpr),
    /// `1`, `0x1f`, `Inf`, `5m` used as a number.
    NumberLiteral(NumberLiteral),
    /// `"foo"`.
    StringLiteral(StringLiteral),
    /// `(x)`.
    Paren(ParenExpr),
    /// `-x`, `+x`.
    Unary(UnaryExpr),
    /// `x{job="a"}`.
    VectorSelector(VectorSelector),
    /// A duration expression used as a scalar: `step()`, `range()`, `start()`, `end()`,
    /// `min_of(a, b)`, `max_of(a, b)` (experimental), evaluated in seconds.
    Duration(DurationExpr),
    /// An expression whose value does not depend on the evaluation step. Never produced by
    /// the parser; the engine wraps sub-trees in it while preparing a query.
    StepInvariant(StepInvariantExpr),
}

impl Expr {
    /// The type the expression evaluates to (Go's `Type()`).
    pub fn value_type(&self) -> ValueType {
        let mut e = self;
        loop {
            return match e {
                Expr::Aggregate(_) | Expr::VectorSelector(_) => ValueType::Vector,
                Expr::Binary(b) => super::parse::grow(|| {
                    if b.lhs.value_type() == ValueType::Scalar
                        && b.rhs.value_type() == ValueType::Scalar
                    {
                        ValueType::Scalar
                    } else {
                        ValueType::Vector
                    }
                }),
                Expr::Call(c) => c.func.return_type,
                Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
                Expr::NumberLiteral(_) | Expr::Duration(_) => ValueType::Scalar,
                Expr::StringLiteral(_) => ValueType::String,
                Expr::Paren(ParenExpr { expr, .. })
                | Expr::Unary(UnaryExpr { expr, .. })
                | Expr::StepInvariant(StepInvariantExpr { expr }) => {
                    e = expr;
                    continue;
                }
            };
        }
    }

    /// Where the expression was found in the query (Go's `PositionRange()`).
    pub fn pos(&self) -> PosRange {
        PosRange::new(self.start(), self.end())
    }

    /// First byte of the expression (iterative: operator chains can be deep).
    fn start(&self) -> usize {
        let mut e = self;
        loop {
            return match e {
                Expr::Binary(b) => {
                    e = &b.lhs;
                    continue;
                }
                Expr::Subquery(s) => {
                    e = &s.expr;
                    continue;
                }
                Expr::StepInvariant(s) => {
                    e = &s.expr;
                    continue;
                }
                Expr::Aggregate(a) => a.pos.start,
                Expr::Call(c) => c.pos.start,
                Expr::MatrixSelector(m) => m.vector_selector.pos.start,
                Expr::NumberLiteral(n) => n.pos.start,
                Expr::StringLiteral(s) => s.pos.start,
                Expr::Paren(p) => p.pos.start,
                Expr::Unary(u) => u.start_pos,
                Expr::VectorSelector(v) => v.pos.start,
                Expr::Duration(d) => d.pos().start,
            };
        }
    }

    /// One past the last byte of the expression.
    fn end(&self) -> usize {
        let mut e = self;
        loop {
            return match e {
                Expr::Binary(b) => {
                    e = &b.rhs;
                    continue;
                }
                Expr::Unary(u) => {
                    e = &u.expr;
                    continue;
                }
                Expr::StepInvariant(s) => {
                    e = &s.expr;
                    continue;
                }
                Expr::Aggregate(a) => a.pos.end,
                Expr::Call(c) => c.pos.end,
                Expr::MatrixSelector(m) => m.end_pos,
                Expr::Subquery(s) => s.end_pos,
                Expr::NumberLiteral(n) => n.pos.end,
                Expr::StringLiteral(s) => s.pos.end,
                Expr::Paren(p) => p.pos.end,
                Expr::VectorSelector(v) => v.pos.end,
                Expr::Duration(d) => d.pos().end,
            };
        }
    }

    /// The direct children of this node, in source order (Go's `Children`).
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Aggregate(a) => {
                let mut v = Vec::with_capacity(2);
                if let Some(p) = &a.param {
                    v.push(&**p);
                }
                v.push(&*a.expr);
                v
            }
            Expr::Binary(b) => vec![&*b.lhs, &*b.rhs],
            Expr::Call(c) => c.args.iter().collect(),
            Expr::Subquery(s) => vec![&*s.expr],
            Expr::Paren(p) => vec![&*p.expr],
            Expr::Unary(u) => vec![&*u.expr],
            Expr::StepInvariant(s) => vec![&*s.expr],
            Expr::MatrixSelector(_)
            | Expr::Duration(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_) => Vec::new(),
        }
    }

    /// Visits this node and then its descendants depth-first, in source order.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        for child in self.children() {
            child.walk(f);
        }
    }

    /// Strips any number of enclosing parentheses (and step-invariant wrappers).
    pub fn unwrap_parens(&self) -> &Expr {
        match self {
            Expr::Paren(p) => p.expr.unwrap_parens(),
            Expr::StepInvariant(s) => s.expr.unwrap_parens(),
            e => e,
        }
    }
}

/// An aggregation: `op [by|without (labels)] ([param,] expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The aggregation operator.
    pub op: AggregateOp,
    /// The vector expression that is aggregated.
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`, `limitk`,
    /// `limit_ratio`.
    pub param: Option<Box<Expr>>,
    /// The labels of the `by`/`without` clause, in query order.
    pub grouping: Vec<String>,
    /// Whether `grouping` lists labels to drop (`without`) rather than keep (`by`).
    pub without: bool,
    /// Where the expression was found.
    pub pos: PosRange,
}

/// The aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `avg`.
    Avg,
    /// `bottomk` (takes a parameter).
    Bottomk,
    /// `count`.
    Count,
    /// `count_values` (takes a string parameter).
    CountValues,
    /// `group`.
    Group,
    /// `max`.
    Max,
    /// `min`.
    Min,
    /// `quantile` (takes a parameter).
    Quantile,
    /// `stddev`.
    Stddev,
    /// `stdvar`.
    Stdvar,
    /// `sum`.
    Sum,
    /// `topk` (takes a parameter).
    Topk,
    /// `limitk` (experimental, takes a parameter).
    Limitk,
    /// `limit_ratio` (experimental, takes a parameter).
    LimitRatio,
}

impl AggregateOp {
    /// Every aggregation operator.
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Avg,
        AggregateOp::Bottomk,
        AggregateOp::Count,
        AggregateOp::CountValues,
        AggregateOp::Group,
        AggregateOp::Max,
        AggregateOp::Min,
        AggregateOp::Quantile,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Sum,
        AggregateOp::Topk,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    /// The keyword, e.g. `count_values`.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Avg => "avg",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Count => "count",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Group => "group",
            AggregateOp::Max => "max",
            AggregateOp::Min => "min",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Sum => "sum",
            AggregateOp::Topk => "topk",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// The operator for a keyword (case-insensitive, as the lexer is).
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        AggregateOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether the operator takes a parameter before the vector (Go's
    /// `IsAggregatorWithParam`).
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Whether the operator is experimental (Go's `IsExperimentalAggregator`).
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A binary operation: `lhs op [bool] [on|ignoring (...)] [group_x (...)] [fill...] rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// The left operand.
    pub lhs: Box<Expr>,
    /// The right operand.
    pub rhs: Box<Expr>,
    /// How series of the two sides are matched; `None` unless both sides are instant
    /// vectors (set by the parser's type check, as in Go).
    pub vector_matching: Option<VectorMatching>,
    /// For comparisons: return 0/1 instead of filtering (`bool`).
    pub return_bool: bool,
}

/// The binary operators, in Go's token order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^` (right-associative).
    Pow,
    /// `atan2`.
    Atan2,
    /// `==`.
    Eql,
    /// `!=`.
    Neq,
    /// `>`.
    Gtr,
    /// `<`.
    Lss,
    /// `>=`.
    Gte,
    /// `<=`.
    Lte,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `unless`.
    Unless,
    /// `</`: trims the upper part of native histograms above the right operand
    /// (Go's `TRIM_UPPER`).
    TrimUpper,
    /// `>/`: trims the lower part of native histograms below the right operand
    /// (Go's `TRIM_LOWER`).
    TrimLower,
}

impl BinaryOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
        }
    }

    /// Binding strength, higher binds tighter (Go's `Precedence`): `or` 1; `and`,
    /// `unless` 2; comparisons 3; `+ -` 4; `* / % atan2 </ >/` 5; `^` 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Atan2
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Whether the operator is right-associative (only `^`).
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// `== != > < >= <=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and or unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the series of two vectors are matched in a binary operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorMatching {
    /// The cardinality of the match.
    pub card: VectorMatchCardinality,
    /// The labels of the `on`/`ignoring` clause.
    pub matching_labels: Vec<String>,
    /// Whether `matching_labels` are the labels to match on (`on`) rather than to
    /// ignore (`ignoring`).
    pub on: bool,
    /// Extra labels from the "one" side (`group_left (...)`/`group_right (...)`).
    pub include: Vec<String>,
    /// Values to fill in for series missing on either side (experimental `fill`,
    /// `fill_left`, `fill_right`).
    pub fill_values: FillValues,
}

/// The experimental binary-operator fill modifiers: the value assumed for a series
/// missing on one side.
#[derive(Debug, Clone, Copy, Default)]
pub struct FillValues {
    /// Value used when the left side has no matching series (`fill_left`).
    pub lhs: Option<f64>,
    /// Value used when the right side has no matching series (`fill_right`).
    pub rhs: Option<f64>,
}

impl PartialEq for FillValues {
    fn eq(&self, other: &FillValues) -> bool {
        fn same(a: Option<f64>, b: Option<f64>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
                (None, None) => true,
                _ => false,
            }
        }
        same(self.lhs, other.lhs) && same(self.rhs, other.rhs)
    }
}

/// The cardinality of a vector match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VectorMatchCardinality {
    /// Each series on either side matches at most one on the other side.
    #[default]
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

impl fmt::Display for VectorMatchCardinality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VectorMatchCardinality::OneToOne => "one-to-one",
            VectorMatchCardinality::ManyToOne => "many-to-one",
            VectorMatchCardinality::OneToMany => "one-to-many",
            VectorMatchCardinality::ManyToMany => "many-to-many",
        })
    }
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The called function, from [`super::functions::FUNCTIONS`].
    pub func: &'static Function,
    /// The arguments, type-checked against the function's signature.
    pub args: Vec<Expr>,
    /// Where the call was found (name to closing parenthesis).
    pub pos: PosRange,
}

/// The `@ start()` / `@ end()` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// `@ start()`: the start of the range query (the evaluation time of an instant query).
    Start,
    /// `@ end()`: the end of the range query.
    End,
}

/// An instant vector selector: `name{matchers} [@ t] [offset d]`.
///
/// Equality ignores the order of `matchers` (the printer sorts them, as Go's does).
#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name written outside the braces (or as the first, unpaired string inside
    /// them), or empty.
    pub name: String,
    /// All matchers. When `name` is set, the last matcher is the `__name__="name"` matcher
    /// the parser added for it (as Go does).
    pub matchers: Vec<Matcher>,
    /// The offset written in the query, in milliseconds (negative for `offset -5m`).
    pub original_offset: i64,
    /// The offset written as a duration expression (`offset (1h * 2)`), to be evaluated by
    /// the engine; `original_offset` is then 0.
    pub original_offset_expr: Option<DurationExpr>,
    /// The offset used during evaluation, in milliseconds; set by the engine.
    pub offset: i64,
    /// The `@` timestamp in milliseconds.
    pub timestamp: Option<i64>,
    /// `@ start()` or `@ end()`.
    pub start_or_end: Option<AtModifier>,
    /// The experimental `anchored` range modifier.
    pub anchored: bool,
    /// The experimental `smoothed` range modifier.
    pub smoothed: bool,
    /// Set for the second argument of `info()`, which need not have a non-empty matcher.
    pub bypass_empty_matcher_check: bool,
    /// Where the selector was found (including its modifiers).
    pub pos: PosRange,
}

impl PartialEq for VectorSelector {
    fn eq(&self, other: &VectorSelector) -> bool {
        let sorted = |v: &VectorSelector| {
            let mut m: Vec<(String, model::MatchType, String)> = v
                .matchers
                .iter()
                .map(|m| (m.name.clone(), m.match_type, m.value.clone()))
                .collect();
            m.sort();
            m
        };
        self.name == other.name
            && self.original_offset == other.original_offset
            && self.original_offset_expr == other.original_offset_expr
            && self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.start_or_end == other.start_or_end
            && self.anchored == other.anchored
            && self.smoothed == other.smoothed
            && self.bypass_empty_matcher_check == other.bypass_empty_matcher_check
            && sorted(self) == sorted(other)
    }
}

/// A range vector selector: `selector[range]`.
#[derive(Debug, Clone)]
pub struct MatrixSelector {
    /// The selector (which carries `@`, `offset`, `anchored`, `smoothed`).
    pub vector_selector: VectorSelector,
    /// The range in milliseconds (0 when `range_expr` is set).
    pub range: i64,
    /// The range as a duration expression (`[5m + step()]`), evaluated by the engine.
    pub range_expr: Option<DurationExpr>,
    /// Byte offset one past the end of the selector and its modifiers.
    pub end_pos: usize,
}

impl PartialEq for MatrixSelector {
    fn eq(&self, other: &MatrixSelector) -> bool {
        self.vector_selector == other.vector_selector
            && self.range == other.range
            && self.range_expr == other.range_expr
    }
}

/// A subquery: `expr[range:step] [@ t] [offset d]`.
#[derive(Debug, Clone)]
pub struct SubqueryExpr {
    /// The inner instant-vector expression.
    pub expr: Box<Expr>,
    /// The range in milliseconds (0 when `range_expr` is set).
    pub range: i64,
    /// The range as a duration expression.
    pub range_expr: Option<DurationExpr>,
    /// The offset written in the query, in milliseconds.
    pub original_offset: i64,
    /// The offset as a duration expression.
    pub original_offset_expr: Option<DurationExpr>,
    /// The offset used during evaluation, in milliseconds; set by the engine.
    pub offset: i64,
    /// The `@` timestamp in milliseconds.
    pub timestamp: Option<i64>,
    /// `@ start()` or `@ end()`.
    pub start_or_end: Option<AtModifier>,
    /// The resolution step in milliseconds; 0 means the default evaluation interval.
    pub step: i64,
    /// The step as a duration expression.
    pub step_expr: Option<DurationExpr>,
    /// Byte offset one past the end of the subquery and its modifiers.
    pub end_pos: usize,
}

impl PartialEq for SubqueryExpr {
    fn eq(&self, other: &SubqueryExpr) -> bool {
        self.expr == other.expr
            && self.range == other.range
            && self.range_expr == other.range_expr
            && self.original_offset == other.original_offset
            && self.original_offset_expr == other.original_offset_expr
            && self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.start_or_end == other.start_or_end
            && self.step == other.step
            && self.step_expr == other.step_expr
    }
}

/// A number. Duration literals used as numbers (`5m` means 300) keep `duration` so the
/// printer writes them back as durations.
#[derive(Debug, Clone, Copy)]
pub struct NumberLiteral {
    /// The value (durations in seconds).
    pub val: f64,
    /// Whether the literal was written as a duration.
    pub duration: bool,
    /// Where the literal was found.
    pub pos: PosRange,
}

impl PartialEq for NumberLiteral {
    fn eq(&self, other: &NumberLiteral) -> bool {
        // IEEE equality (so -0 == 0, which print alike as durations), with NaN == NaN.
        (self.val == other.val || (self.val.is_nan() && other.val.is_nan()))
            && self.duration == other.duration
    }
}

/// A string literal (unquoted value).
#[derive(Debug, Clone, PartialEq)]
pub struct StringLiteral {
    /// The string after unquoting.
    pub val: String,
    /// Where the literal was found (including quotes).
    pub pos: PosRange,
}

/// A parenthesised expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Box<Expr>,
    /// Where the parentheses were found.
    pub pos: PosRange,
}

/// The unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `+x` (identity).
    Add,
    /// `-x` (negation).
    Sub,
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnaryOp::Add => "+",
            UnaryOp::Sub => "-",
        })
    }
}

/// A unary expression: `-x` or `+x`.
#[derive(Debug, Clone)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Box<Expr>,
    /// Byte offset of the operator.
    pub start_pos: usize,
}

impl PartialEq for UnaryExpr {
    fn eq(&self, other: &UnaryExpr) -> bool {
        self.op == other.op && self.expr == other.expr
    }
}

/// An expression known to evaluate to the same value at every step (engine-internal).
#[derive(Debug, Clone, PartialEq)]
pub struct StepInvariantExpr {
    /// The wrapped expression.
    pub expr: Box<Expr>,
}

/// The arithmetic operators allowed in duration expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^`.
    Pow,
}

impl DurationOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }

    /// Binding strength, as for [`BinaryOp::precedence`].
    pub fn precedence(self) -> u8 {
        match self {
            DurationOp::Add | DurationOp::Sub => 4,
            DurationOp::Mul | DurationOp::Div | DurationOp::Mod => 5,
            DurationOp::Pow => 6,
        }
    }
}

impl fmt::Display for DurationOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An experimental duration expression in a range, subquery step or offset
/// (`[5m + 1m]`, `offset (1h * 2)`, `[step() * 2]`). Numbers are seconds; the engine
/// evaluates the expression (it may depend on the query's step and range).
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A number or duration literal (`5m`, `300`, `1.5`).
    Number(NumberLiteral),
    /// `-d` or `+d`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<DurationExpr>,
        /// Where the expression was found (operator to end of operand).
        pos: PosRange,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: DurationOp,
        /// The left operand.
        lhs: Box<DurationExpr>,
        /// The right operand.
        rhs: Box<DurationExpr>,
    },
    /// `(d)`.
    Paren {
        /// The inner expression.
        expr: Box<DurationExpr>,
        /// Where the parentheses were found.
        pos: PosRange,
    },
    /// `step()`: the query's resolution step (0 for instant queries).
    Step {
        /// Where `step()` was found.
        pos: PosRange,
    },
    /// `range()`: the query's range `end - start` (0 for instant queries).
    Range {
        /// Where `range()` was found.
        pos: PosRange,
    },
    /// `start()`: the query's start time in seconds since the epoch.
    Start {
        /// Where `start()` was found.
        pos: PosRange,
    },
    /// `end()`: the query's end time in seconds since the epoch.
    End {
        /// Where `end()` was found.
        pos: PosRange,
    },
    /// `min_of(a, b)` (NaN if either is NaN, as Go's `math.Min`).
    MinOf {
        /// First argument.
        lhs: Box<DurationExpr>,
        /// Second argument.
        rhs: Box<DurationExpr>,
        /// Where the call was found.
        pos: PosRange,
    },
    /// `max_of(a, b)` (NaN if either is NaN, as Go's `math.Max`).
    MaxOf {
        /// First argument.
        lhs: Box<DurationExpr>,
        /// Second argument.
        rhs: Box<DurationExpr>,
        /// Where the call was found.
        pos: PosRange,
    },
}

impl DurationExpr {
    /// Where the expression was found.
    pub fn pos(&self) -> PosRange {
        match self {
            DurationExpr::Number(n) => n.pos,
            DurationExpr::Binary { lhs, rhs, .. } => PosRange::new(lhs.pos().start, rhs.pos().end),
            DurationExpr::Paren { pos, .. }
            | DurationExpr::Unary { pos, .. }
            | DurationExpr::Step { pos }
            | DurationExpr::Range { pos }
            | DurationExpr::Start { pos }
            | DurationExpr::End { pos }
            | DurationExpr::MinOf { pos, .. }
            | DurationExpr::MaxOf { pos, .. } => *pos,
        }
    }

    /// Evaluates the expression to seconds, given the query's step and range in seconds
    /// (both 0 for instant queries), with the query starting at 0 (see [`DurationExpr::eval`]).
    pub fn eval_seconds(&self, step: f64, range: f64) -> f64 {
        self.eval(&QueryTimes {
            start: 0.0,
            end: range,
            step,
        })
    }

    /// Evaluates the expression to seconds for a query running from `t.start` to `t.end`
    /// (seconds since the epoch; equal for instant queries) every `t.step` seconds.
    pub fn eval(&self, t: &QueryTimes) -> f64 {
        fn go_min_max(a: f64, b: f64, max: bool) -> f64 {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if max {
                a.max(b)
            } else {
                a.min(b)
            }
        }
        match self {
            DurationExpr::Number(n) => n.val,
            DurationExpr::Unary { op, expr, .. } => match op {
                UnaryOp::Add => expr.eval(t),
                UnaryOp::Sub => -expr.eval(t),
            },
            DurationExpr::Binary { op, lhs, rhs } => {
                let (a, b) = (lhs.eval(t), rhs.eval(t));
                match op {
                    DurationOp::Add => a + b,
                    DurationOp::Sub => a - b,
                    DurationOp::Mul => a * b,
                    DurationOp::Div => a / b,
                    DurationOp::Mod => a % b,
                    DurationOp::Pow => a.powf(b),
                }
            }
            DurationExpr::Paren { expr, .. } => expr.eval(t),
            DurationExpr::Step { .. } => t.step,
            DurationExpr::Range { .. } => t.end - t.start,
            DurationExpr::Start { .. } => t.start,
            DurationExpr::End { .. } => t.end,
            DurationExpr::MinOf { lhs, rhs, .. } => go_min_max(lhs.eval(t), rhs.eval(t), false),
            DurationExpr::MaxOf { lhs, rhs, .. } => go_min_max(lhs.eval(t), rhs.eval(t), true),
        }
    }

    /// Whether the expression uses `step()`, `range()`, `start()` or `end()` and so depends
    /// on the query.
    pub fn depends_on_query(&self) -> bool {
        match self {
            DurationExpr::Number(_) => false,
            DurationExpr::Step { .. }
            | DurationExpr::Range { .. }
            | DurationExpr::Start { .. }
            | DurationExpr::End { .. } => true,
            DurationExpr::Unary { expr, .. } | DurationExpr::Paren { expr, .. } => {
                expr.depends_on_query()
            }
            DurationExpr::Binary { lhs, rhs, .. }
            | DurationExpr::MinOf { lhs, rhs, .. }
            | DurationExpr::MaxOf { lhs, rhs, .. } => {
                lhs.depends_on_query() || rhs.depends_on_query()
            }
        }
    }
}

/// The times a query runs at, for evaluating [`DurationExpr`]s (all in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueryTimes {
    /// Start of the query (the evaluation time of an instant query).
    pub start: f64,
    /// End of the query (equal to `start` for instant queries).
    pub end: f64,
    /// Resolution step (0 for instant queries).
    pub step: f64,
}
