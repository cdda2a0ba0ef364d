//! Shared harness for the end-to-end tests: the real `medsettle` binary, real certificates from
//! `medsettle init`, real TLS on 127.0.0.1:0, real sled on disk.

#![allow(dead_code)]

#[path = "../../gateway/cli/src/his.rs"]
pub mod his;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bound for the gateway to print its address; far above a normal start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_medsettle"))
}

/// Run `medsettle ARGS…` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run medsettle")
}

/// Run and assert success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "medsettle {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A directory set up by `medsettle init --dir`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn init() -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        run_ok(&["init", "--dir", dir.path().to_str().unwrap()]);
        Workspace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("medsettle.toml")
    }

    pub fn ca(&self) -> PathBuf {
        self.path().join("certs/ca.pem")
    }

    pub fn client_cert(&self, code: &str) -> (PathBuf, PathBuf) {
        let base = self.path().join("certs/clients");
        (base.join(format!("{code}.pem")), base.join(format!("{code}.key")))
    }

    pub fn tls_for(&self, code: &str) -> Arc<rustls::ClientConfig> {
        let (cert, key) = self.client_cert(code);
        his::client_tls(&self.ca(), &cert, &key).expect("client TLS config")
    }

    /// Start `medsettle serve` on a free port.
    pub fn serve(&self, extra: &[&str]) -> Gateway {
        Gateway::start(&self.config(), extra)
    }
}

/// A running `medsettle serve`; killed on drop.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Gateway {
    pub fn start(config: &Path, extra: &[&str]) -> Gateway {
        let mut args = vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.to_str().unwrap().to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(bin())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn medsettle serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + START_TIMEOUT;
        let mut line = String::new();
        // The first line of standard output is the address (issue contract).
        stdout.read_line(&mut line).expect("read first line");
        assert!(Instant::now() < deadline, "gateway took too long to start");
        let addr = line
            .trim()
            .strip_prefix("listening on https://")
            .unwrap_or_else(|| panic!("first line is not the address: {line:?}"))
            .parse()
            .expect("socket address");
        Gateway {
            child,
            addr,
            stdout: Some(stdout),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL, no chance to flush or clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for gateway")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A multi-threaded runtime for the async client in a sync test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
