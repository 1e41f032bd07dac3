//! A minimal HTTP/1.1 client for the nodes' loopback endpoints (`/metrics`, `/admin/…`): one
//! request per connection, bounded in time and size.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TestnetError;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE: usize = 8 << 20;

/// Sends one request; returns the status code and the body.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, String), TestnetError> {
    let fail = |detail: String| TestnetError::Node(format!("http://{addr}{path}: {detail}"));
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| fail(e.to_string()))?;
        stream
            .write_all(body.as_bytes())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE as u64)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| fail(e.to_string()))?;
        parse(&raw).ok_or_else(|| fail("unreadable response".into()))
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| fail(format!("no answer within {TIMEOUT:?}")))?
}

fn parse(raw: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Sums the samples of a Prometheus counter family whose labels contain every `(key, value)`.
pub(crate) fn sum_metric(text: &str, family: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name_labels, value) = l.rsplit_once(' ')?;
            let (name, rest) = match name_labels.split_once('{') {
                Some((n, r)) => (n, r),
                None => (name_labels, ""),
            };
            if name != family {
                return None;
            }
            let ok = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            if ok { value.parse::<f64>().ok() } else { None }
        })
        .sum()
}

/// `(label value, count)` for every sample of `family` with `labels`, grouped by `by`.
pub(crate) fn group_metric(
    text: &str,
    family: &str,
    labels: &[(&str, &str)],
    by: &str,
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name_labels, value)) = l.rsplit_once(' ') else {
            continue;
        };
        let Some((name, rest)) = name_labels.split_once('{') else {
            continue;
        };
        if name != family
            || !labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            continue;
        }
        let Some(key) = rest
            .split(&format!("{by}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        match out.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v += value,
            None => out.push((key.to_owned(), value)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const METRICS: &str = "# HELP flashback_objects Objects\n\
        # TYPE flashback_objects counter\n\
        flashback_objects_total{kind=\"offer\",outcome=\"accepted\",verdict=\"accept\"} 12\n\
        flashback_objects_total{kind=\"offer\",outcome=\"bad_signature\",verdict=\"reject\"} 3\n\
        flashback_objects_total{kind=\"unknown\",outcome=\"too_large\",verdict=\"reject\"} 4\n\
        flashback_objects_total{kind=\"offer\",outcome=\"duplicate\",verdict=\"ignore\"} 5\n\
        flashback_peers 3\n# EOF\n";

    #[test]
    fn prometheus_text_is_summed_by_label() {
        assert_eq!(
            sum_metric(METRICS, "flashback_objects_total", &[("verdict", "reject")]),
            7.0
        );
        assert_eq!(sum_metric(METRICS, "flashback_peers", &[]), 3.0);
        let by = group_metric(
            METRICS,
            "flashback_objects_total",
            &[("verdict", "reject")],
            "outcome",
        );
        assert_eq!(
            by,
            vec![("bad_signature".into(), 3.0), ("too_large".into(), 4.0)]
        );
    }

    #[test]
    fn responses_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(parse(plain), Some((200, "ok".into())));
        let chunked = b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(chunked), Some((401, "abcde".into())));
    }
}
