//! `tollgate admin user`: the people who sign in (the password grant, the
//! browser sign-in, the console) and their roles.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use tollgate_proto::admin::{Role, UserPatch, UserRegistration};

use crate::admin_backend::Backend;
use crate::secret_input;

/// A user's role in the console.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Developer,
}

fn role_names(roles: &[RoleArg]) -> Vec<Role> {
    roles
        .iter()
        .map(|r| match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Developer => Role::Developer,
        })
        .collect()
}

fn joined(roles: &[Role], by: &str) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    names.join(by)
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user; the password is prompted for, or read with --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        full_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// A role in the console (repeat for both): admin sees and changes
        /// everything; developer registers and watches their own apps.
        #[arg(long = "role", value_enum, value_name = "ROLE")]
        roles: Vec<RoleArg>,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a user: password grants fail and their tokens stop working.
    Disable { username: String },
    /// Let a disabled user back in.
    Enable { username: String },
    /// Replace a user's roles (none given: no role).
    SetRoles {
        username: String,
        #[arg(long = "role", value_enum, value_name = "ROLE")]
        roles: Vec<RoleArg>,
    },
    /// Set a new password (prompted for, or read with --password-stdin).
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(backend: &Backend, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            password_stdin,
            full_name,
            email,
            roles,
        } => {
            let password = secret_input::new_password(password_stdin)?;
            let reg = UserRegistration {
                username,
                password,
                full_name,
                email,
                roles: role_names(&roles),
            };
            let user = backend.register_user(reg).await?;
            eprintln!("user {} created", user.username);
            Ok(())
        }
        UserCommand::List { json } => {
            let users = backend.users().await?;
            if json {
                return crate::out::json(&users);
            }
            for u in users {
                let state = if u.enabled { "enabled" } else { "disabled" };
                crate::out::line(format_args!(
                    "{}\t{state}\t{}\t{}",
                    u.username,
                    u.full_name.unwrap_or_default(),
                    joined(&u.roles, ",")
                ))?;
            }
            Ok(())
        }
        UserCommand::Disable { username } => set_user_enabled(backend, &username, false).await,
        UserCommand::Enable { username } => set_user_enabled(backend, &username, true).await,
        UserCommand::SetRoles { username, roles } => {
            let patch = UserPatch {
                roles: Some(role_names(&roles)),
                ..UserPatch::default()
            };
            let user = backend.update_user(&username, patch).await?;
            eprintln!("roles of {username}: {}", joined(&user.roles, ", "));
            Ok(())
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let password = secret_input::new_password(password_stdin)?;
            backend.set_password(&username, password).await?;
            eprintln!("password of {username} changed");
            Ok(())
        }
    }
}

async fn set_user_enabled(backend: &Backend, username: &str, enabled: bool) -> Result<()> {
    let patch = UserPatch {
        enabled: Some(enabled),
        ..UserPatch::default()
    };
    backend.update_user(username, patch).await?;
    eprintln!(
        "user {username} {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}
