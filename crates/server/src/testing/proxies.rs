//! nginx and Caddy for tests of tollgate behind the proxy a team already
//! runs: each started from the installed binary with a configuration the
//! test writes, in a temp dir, on a free loopback port; killed on drop.
//! Where the binary is absent, `None` after a loud [`skip`] (a failure
//! under `CI=true`, where `.ci/run` installs both).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::services::{free_port, skip};

/// A proxy process listening on `127.0.0.1:port`.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// nginx in one process (`master_process off`), its temp paths and
    /// logs in its own directory. `http` is the body of the `http { }`
    /// block, given the port to listen on.
    pub fn nginx(http: impl FnOnce(u16) -> String) -> Option<Self> {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|b| Path::new(b).exists());
        let Some(bin) = bin else {
            skip("nginx is not installed; .ci/run installs it");
            return None;
        };
        let (port, dir) = (free_port()?, tempfile::tempdir().ok()?);
        let d = dir.path().display();
        let conf = format!(
            "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{}\n}}\n",
            http(port)
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).ok()?;
        let mut cmd = Command::new(bin);
        cmd.arg("-e").arg(dir.path().join("error.log"));
        cmd.arg("-p").arg(dir.path()).arg("-c").arg(&path);
        Self::spawn("nginx", cmd, port, dir)
    }

    /// Caddy from a Caddyfile, given the port to listen on; its admin
    /// endpoint off and its data and config directories in its own.
    pub fn caddy(caddyfile: impl FnOnce(u16) -> String) -> Option<Self> {
        let (port, dir) = (free_port()?, tempfile::tempdir().ok()?);
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, caddyfile(port)).ok()?;
        let mut cmd = Command::new("caddy");
        cmd.args(["run", "--adapter", "caddyfile", "--config"]);
        cmd.arg(&path);
        cmd.env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path());
        cmd.env("HOME", dir.path());
        Self::spawn("caddy", cmd, port, dir)
    }

    fn spawn(name: &str, mut cmd: Command, port: u16, dir: tempfile::TempDir) -> Option<Self> {
        let log = std::fs::File::create(dir.path().join("stderr.log")).ok()?;
        cmd.stdout(Stdio::null()).stderr(log);
        let Ok(child) = cmd.spawn() else {
            skip(&format!("{name} is not installed; .ci/run installs it"));
            return None;
        };
        let mut proxy = Self { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(proxy);
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                skip(&format!("{name} exited ({status}): {}", proxy.log()));
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        skip(&format!(
            "{name} did not listen within 20 s: {}",
            proxy.log()
        ));
        None
    }

    /// What the proxy wrote to stderr (and nginx to its error log).
    pub fn log(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.path().join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
