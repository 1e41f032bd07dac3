//! Running the provider's access hook: a command given one JSON object on stdin, answering
//! one on stdout, within a deadline. The command runs under `/bin/sh -c` in a process group of
//! its own, so that on timeout the whole group (the shell and anything it started) is killed.
//! Its output is bounded: more than [`MAX_STDOUT`] bytes on stdout fails the call, and only
//! the first [`MAX_STDERR`] bytes of stderr are kept (the first line is logged on failure).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// Most bytes a hook may write on stdout (credentials are small).
pub(crate) const MAX_STDOUT: usize = 64 * 1024;
/// Bytes of stderr kept for the error message.
pub(crate) const MAX_STDERR: usize = 4 * 1024;

/// Why a hook call failed; the message is what the provider's log shows.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HookError {
    #[error("cannot start the access hook `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("the access hook did not finish within {0:?} and was killed")]
    Timeout(Duration),
    #[error("the access hook exited with {status}: {stderr}")]
    Failed { status: String, stderr: String },
    #[error("the access hook wrote more than {MAX_STDOUT} bytes on stdout")]
    TooMuchOutput,
    #[error("the access hook's answer is not valid: {0}")]
    BadAnswer(String),
    #[error("talking to the access hook failed: {0}")]
    Io(std::io::Error),
}

/// Runs `command` with `input` on stdin; its stdout on success (zeroized when dropped: it may
/// hold credentials).
pub(crate) async fn run(
    command: &str,
    input: &[u8],
    timeout: Duration,
) -> Result<Zeroizing<Vec<u8>>, HookError> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| HookError::Spawn {
            command: command.to_owned(),
            source,
        })?;
    let group = child.id();
    let (mut stdin, stdout, stderr) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let exchange = async {
        if let Some(stdin) = stdin.as_mut() {
            // A hook that does not read its input closes the pipe: not an error of ours.
            let _ = stdin.write_all(input).await;
            let _ = stdin.shutdown().await;
        }
        drop(stdin.take());
        let (out, err, status) = tokio::join!(
            read_bounded(stdout, MAX_STDOUT),
            read_bounded(stderr, MAX_STDERR),
            child.wait()
        );
        Ok::<_, HookError>((out, err, status.map_err(HookError::Io)?))
    };
    let (out, err, status) = match tokio::time::timeout(timeout, exchange).await {
        Ok(done) => done?,
        Err(_) => {
            kill_group(group);
            return Err(HookError::Timeout(timeout));
        }
    };
    // Whatever the hook started in the background goes with it.
    kill_group(group);
    let (out, out_whole) = out.map_err(HookError::Io)?;
    let (err, _) = err.map_err(HookError::Io)?;
    if !status.success() {
        let text = String::from_utf8_lossy(&err);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(HookError::Failed {
            status: status.to_string(),
            stderr: first.chars().take(300).collect(),
        });
    }
    if !out_whole {
        return Err(HookError::TooMuchOutput);
    }
    Ok(out)
}

/// Reads at most `limit` bytes, then drains the rest (so the writer never blocks on a full
/// pipe); the flag says whether everything fitted.
async fn read_bounded(
    pipe: Option<impl AsyncRead + Unpin>,
    limit: usize,
) -> std::io::Result<(Zeroizing<Vec<u8>>, bool)> {
    let mut kept = Zeroizing::new(Vec::new());
    let Some(mut pipe) = pipe else {
        return Ok((kept, true));
    };
    let mut chunk = Zeroizing::new(vec![0u8; 8192]);
    let mut whole = true;
    loop {
        let n = pipe.read(&mut chunk).await?;
        if n == 0 {
            return Ok((kept, whole));
        }
        let room = limit.saturating_sub(kept.len());
        if n > room {
            whole = false;
        }
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

fn kill_group(group: Option<u32>) {
    let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // The group may be gone already (ESRCH): nothing to do then.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn answers_errors_timeouts_and_limits() {
        let out = run("cat", b"{\"x\":1}", 10 * SECOND)
            .await
            .expect("cat echoes");
        assert_eq!(&out[..], b"{\"x\":1}");

        let failed = run("echo 'no bucket left' >&2; exit 3", b"", 10 * SECOND).await;
        let text = failed.expect_err("exit 3 fails").to_string();
        assert!(
            text.contains("no bucket left") && text.contains('3'),
            "{text}"
        );

        // A hook that hangs, with a child of its own, is killed as a group.
        let slow = run("sleep 30 & sleep 30", b"", SECOND).await;
        assert!(matches!(slow, Err(HookError::Timeout(_))), "{slow:?}");

        let big = run("head -c 200000 /dev/zero", b"", 10 * SECOND).await;
        assert!(matches!(big, Err(HookError::TooMuchOutput)), "{big:?}");

        let missing = run("/nonexistent/hook", b"", 10 * SECOND).await;
        assert!(
            matches!(missing, Err(HookError::Failed { .. })),
            "{missing:?}"
        );
    }
}
