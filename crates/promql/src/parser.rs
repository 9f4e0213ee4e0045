//! The PromQL parser: lexer, AST, printer and function table (mirrors Go's promql/parser).
