//! Waiting helpers: a free loopback port, waiting for a child process to listen on one, and
//! polling a condition until a deadline.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::process::Child;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something listens on 127.0.0.1:`port`; fails when `child` (named `what` in the
/// error) exits first or `deadline` passes.
pub async fn wait_for_port(
    port: u16,
    what: &str,
    child: &mut Child,
    deadline: Duration,
) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited with {status} before listening on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} did not listen on port {port} within {deadline:?}")
}

/// Polls `f` until it returns `Some`, or fails after `deadline`.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
