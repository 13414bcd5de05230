//! `tollgate`: one binary for the authorization server, its admin commands,
//! and the client. `main` only parses arguments, runs a subcommand and turns
//! its outcome into an exit code; each subcommand lives in its own module.

mod admin;
mod admin_backend;
mod admin_keys;
mod admin_settings;
mod admin_users;
mod cache_cmd;
mod call;
mod client_args;
mod introspect;
mod jsonfmt;
mod logging;
mod login;
mod out;
mod profile;
mod secret_input;
mod serve;
mod session;
mod token_cmd;
mod whoami;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc, whose malloc/free were 5-15 % of the
/// server's CPU under load (measured before and after in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// OAuth 2.0 authorization server, API gateway and client in one binary.
///
/// Start here: `tollgate serve --demo` runs a server with a demo client and
/// user on 127.0.0.1:8080 and prints commands to try. As a client:
/// `TOLLGATE_CLIENT_SECRET=... tollgate call --token-url URL --client-id ID
/// https://api.example.com/locations` gets, caches and uses a token.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authorization server and gateway.
    Serve(serve::ServeArgs),
    /// Manage clients, users and signing keys: in the server's database,
    /// or with --url through its admin API.
    Admin(admin::AdminArgs),
    /// Print an access token (cached on disk until it expires).
    Token(token_cmd::TokenArgs),
    /// Sign in as a person in the browser (authorization code + PKCE);
    /// the tokens are cached for `call`, `token` and the rest.
    Login(login::LoginArgs),
    /// Call an API with a bearer token; re-authenticates once on invalid_token.
    Call(call::CallArgs),
    /// Ask the server whether a token is active (exit 0 if so, 1 if not).
    Introspect(introspect::IntrospectArgs),
    /// Revoke a token.
    Revoke(introspect::RevokeArgs),
    /// The Manhattan Active sample CLI: log in as a user and print their details.
    Whoami(whoami::WhoamiArgs),
    /// List or show client profiles (including the manheim presets).
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Show or clear the on-disk token cache.
    #[command(subcommand)]
    Cache(cache_cmd::CacheCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match &cli.command {
        Command::Serve(_) => tokio::runtime::Runtime::new(),
        // Client commands make a few requests: one thread starts faster.
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tollgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ok = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => ok(serve::run(args).await),
            Command::Admin(args) => ok(admin::run(args).await),
            Command::Token(args) => ok(token_cmd::run(args).await),
            Command::Login(args) => ok(login::run(args).await),
            Command::Call(args) => call::run(args).await,
            Command::Introspect(args) => introspect::run_introspect(args).await,
            Command::Revoke(args) => ok(introspect::run_revoke(args).await),
            Command::Whoami(args) => whoami::run(args).await,
            Command::Profile(cmd) => ok(profile::run(cmd)),
            Command::Cache(cmd) => ok(cache_cmd::run(cmd)),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tollgate admin client list | head` closing the pipe early is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
