//! `admin user create` prompts for the password without echo when run in a
//! terminal. A real terminal under tmux: wait for each prompt, type, and
//! check the screen never shows what was typed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Workspace, BIN};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn user_create_prompts_without_echo() {
    if Command::new("tmux").arg("-V").output().is_err() {
        tollgate_server::testing::skip(
            "user_create_prompts_without_echo: tmux is not installed (.ci/run installs it)",
        );
        return;
    }
    let ws = Workspace::new();
    let tmux = Tmux {
        socket: format!("tollgate-test-{}", std::process::id()),
    };
    let cmd = format!(
        "{BIN} admin --database {} --config {} user create --username carol; echo EXIT=$?; sleep 30",
        ws.database(),
        ws.config().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "150",
        "-y",
        "20",
        &cmd,
    ]);
    tmux.wait_for("New password:");
    tmux.run(&["send-keys", "-t", "t", "typed-secret-42", "Enter"]);
    tmux.wait_for("Repeat password:");
    tmux.run(&["send-keys", "-t", "t", "typed-secret-42", "Enter"]);
    let screen = tmux.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        !screen.contains("typed-secret-42"),
        "the password was echoed:\n{screen}"
    );
    let users = ws.admin_ok(&["user", "list"], "");
    assert!(users.starts_with("carol\tenabled"), "{users}");
}
