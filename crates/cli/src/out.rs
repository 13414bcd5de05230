//! Writing to standard output without panicking: `println!` panics when the
//! reader has gone (`tollgate token | head -c0`), these return the error,
//! which `main` turns into a quiet exit 0 when it is a closed pipe.

use std::fmt::Display;
use std::io::{self, Write};

use anyhow::Context as _;
use serde::Serialize;

/// `value` and a newline.
pub fn line(value: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()
}

/// `value` as one line of JSON.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value).context("formatting JSON")?;
    line(text)?;
    Ok(())
}

/// `value` as it is.
pub fn text(value: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    write!(out, "{value}")?;
    out.flush()
}
