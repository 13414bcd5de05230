//! Reading secrets and passwords from standard input or a no-echo prompt,
//! so they never have to appear in argv or shell history.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context, Result};

/// One line from stdin, without its line ending.
pub fn from_stdin(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let value = line.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        bail!("the {what} read from standard input is empty");
    }
    Ok(value)
}

/// A no-echo prompt on the terminal.
pub fn prompt(label: &str) -> Result<String> {
    let value = rpassword::prompt_password(label).context("reading from the terminal")?;
    if value.is_empty() {
        bail!("nothing was entered");
    }
    Ok(value)
}

/// The value of the environment variable `var` when set and not empty,
/// else a no-echo prompt with `label` on a terminal, else `None` (the
/// caller says what to pass instead).
pub fn from_env_or_prompt(var: &str, label: &str) -> Result<Option<String>> {
    if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(Some(v));
    }
    if std::io::stdin().is_terminal() {
        return prompt(label).map(Some);
    }
    Ok(None)
}

/// From stdin when `use_stdin`, else from a prompt typed twice.
pub fn new_password(use_stdin: bool) -> Result<String> {
    if use_stdin {
        return from_stdin("password");
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password given: pass --password-stdin and pipe it in, or run in a terminal to be prompted");
    }
    let first = rpassword::prompt_password("New password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Repeat password: ").context("reading the password")?;
    if first != again {
        bail!("the two passwords differ");
    }
    if first.is_empty() {
        bail!("the password must not be empty");
    }
    Ok(first)
}
