//! Exits the server when the client process that started it has died (LSP `processId`), so an
//! editor crash does not leave the server and its model in memory.

use std::time::Duration;

const POLL_INTERVAL: Duration = Duration::from_secs(3);

pub fn watch_client_process(process_id: u32) {
    if !can_check_processes() {
        tracing::warn!(
            "cannot check whether client process {process_id} is alive; not watching it"
        );
        return;
    }
    tokio::spawn(async move {
        // The first check waits a full interval, so `initialize` is always answered first.
        let first_check = tokio::time::Instant::now() + POLL_INTERVAL;
        let mut interval = tokio::time::interval_at(first_check, POLL_INTERVAL);
        loop {
            interval.tick().await;
            if !process_is_alive(process_id).await {
                tracing::warn!("client process {process_id} has exited; exiting");
                std::process::exit(1);
            }
        }
    });
}

/// Without a mounted /proc every process would look dead; better not to watch than to exit.
#[cfg(target_os = "linux")]
fn can_check_processes() -> bool {
    std::path::Path::new("/proc/self").exists()
}

#[cfg(not(target_os = "linux"))]
fn can_check_processes() -> bool {
    true
}

#[cfg(target_os = "linux")]
async fn process_is_alive(process_id: u32) -> bool {
    std::path::Path::new("/proc")
        .join(process_id.to_string())
        .exists()
}

#[cfg(all(unix, not(target_os = "linux")))]
async fn process_is_alive(process_id: u32) -> bool {
    // `kill -0` checks existence without a libc dependency; it blocks, so off the runtime.
    let check = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kill")
            .args(["-0", &process_id.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|status| status.success())
    });
    // When the check itself cannot run, assume the client is alive rather than exit wrongly.
    !matches!(check.await, Ok(Ok(false)))
}

#[cfg(not(unix))]
async fn process_is_alive(_process_id: u32) -> bool {
    true
}
