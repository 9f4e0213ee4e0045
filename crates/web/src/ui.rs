//! The built-in web UI pages.
