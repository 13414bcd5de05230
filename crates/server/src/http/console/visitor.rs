//! The signed-in person of the console, as every page sees them: who, with
//! which roles, and the CSRF token their forms must carry. How one is
//! recognised (the session cookie) is `auth`'s job.

use tollgate_proto::admin::Role;

use crate::admin::Admin;
use crate::state::AppState;

/// The signed-in person.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub username: String,
    pub roles: Vec<Role>,
    /// Every form's `csrf` field must hold this.
    pub csrf: String,
    /// Who the audit log names: `console:USERNAME`.
    actor: String,
}

impl Visitor {
    pub fn new(username: String, roles: Vec<Role>, csrf: String) -> Self {
        Self {
            actor: format!("console:{username}"),
            username,
            roles,
            csrf,
        }
    }

    pub fn is(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The operations, done by this person now (and audited as such).
    pub fn admin<'a>(&'a self, state: &'a AppState) -> Admin<'a> {
        Admin {
            store: state.store().as_ref(),
            now: state.clock().now_secs(),
            actor: &self.actor,
            caches: Some(state.oauth()),
        }
    }
}
