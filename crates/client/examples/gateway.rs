//! A service gateway's journey over the node's HTTP API, with the SDK's types: read the
//! node's status and the listing, sign an offer here (the key never reaches the node), submit
//! its exact bytes, and read it back. `docs/GATEWAY.md` walks the same journey with curl.
//!
//! ```sh
//! cargo run -p flashback-client --example gateway -- http://127.0.0.1:9465 "$(cat ~/gw/api.token)"
//! ```
#![allow(clippy::print_stdout)] // an example prints what it does

use std::io::Write;
use std::time::Duration;

use flashback_api::view::{OfferPageView, OfferView, StatusView, SubmitView};
use flashback_client::http::{HttpClient, Method, StatusCode};
use flashback_types::clock::now;
use flashback_types::{Object, SecretKey, Signed, samples};

/// GETs `url` and reads the JSON answer as `T`, or says what the node answered.
async fn get<T: serde::de::DeserializeOwned>(http: &HttpClient, url: &str) -> Result<T, String> {
    let (status, body) = http
        .send(Method::GET, url, &[], Vec::new(), 8 << 20)
        .await
        .map_err(|e| e.to_string())?;
    if status != StatusCode::OK {
        return Err(format!(
            "{url}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(token)) = (args.next(), args.next()) else {
        return Err(
            "usage: gateway <node's API base URL, e.g. http://127.0.0.1:9465> <token>".into(),
        );
    };
    run(&base, &token, &mut std::io::stdout()).await
}

/// The journey against the node whose API is at `base` (`http://127.0.0.1:9465`), writing
/// what it does to `out`. (`tests/guide.rs` calls it to run `docs/GATEWAY.md`'s SDK step.)
pub async fn run(base: &str, token: &str, out: &mut impl Write) -> Result<(), String> {
    let mut say = |line: String| writeln!(out, "{line}").map_err(|e| e.to_string());
    let api = format!("{}/api/v1", base.trim_end_matches('/'));
    let http = HttpClient::new(Duration::from_secs(30));

    let status: StatusView = get(&http, &format!("{api}/status")).await?;
    say(format!("node {} ({} peers)", status.peer_id, status.peers))?;
    let page: OfferPageView = get(&http, &format!("{api}/offers?sort=price&limit=5")).await?;
    for o in &page.offers {
        say(format!(
            "  {} {} {}",
            o.offer_key,
            o.price.decimal.as_deref().unwrap_or("?"),
            o.price.asset
        ))?;
    }

    // Signed here: the node only ever sees the signed bytes.
    let key = SecretKey::generate();
    let t = now();
    let offer = Signed::sign(samples::offer(key.public(), "from-gateway", t, t), &key)
        .map_err(|e| e.detail.clone())?;
    let body = serde_json::json!({ "hex": hex::encode(Object::Offer(offer).encoded()) });
    let auth = format!("Bearer {token}");
    let (code, answer) = http
        .send(
            Method::POST,
            &format!("{api}/objects"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            serde_json::to_vec(&body).map_err(|e| e.to_string())?,
            1 << 20,
        )
        .await
        .map_err(|e| e.to_string())?;
    if code != StatusCode::OK {
        return Err(format!(
            "submit: {code}: {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    let submitted: SubmitView = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
    let back: OfferView = get(&http, &format!("{api}/offers/{}", submitted.id)).await?;
    say(format!(
        "published {} as {}, seq {}",
        back.id, back.provider, back.seq
    ))?;
    Ok(())
}
