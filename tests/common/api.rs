//! Helpers for tests of the gateway HTTP API: nodes serving it, JSON requests, offers signed
//! outside the node.

use std::time::Duration;

use flashback_client::http::{HttpClient, Method};
use flashback_node::NodeConfig;
use flashback_types::clock::now;
use flashback_types::{Object, Offer, PriceUnit, SecretKey, Signed, samples};
use serde_json::{Value, json};

use super::TestNode;

/// Serves the API on a free loopback port.
pub fn with_api(config: &mut NodeConfig) {
    config.api.enabled = true;
    config.api.listen = Some("127.0.0.1:0".parse().unwrap());
}

pub fn base(node: &TestNode) -> String {
    format!(
        "http://{}",
        node.info().api_addr.expect("the API is served")
    )
}

pub fn token(node: &TestNode) -> String {
    std::fs::read_to_string(node.dir.path().join(flashback_node::API_TOKEN))
        .unwrap()
        .trim()
        .to_owned()
}

pub async fn request(
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let (status, bytes) = HttpClient::new(Duration::from_secs(30))
        .send(method, url, &headers, body, 16 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status.as_u16(), value)
}

pub async fn get(url: &str) -> (u16, Value) {
    request(Method::GET, url, None, Vec::new()).await
}

pub async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    request(Method::POST, url, token, serde_json::to_vec(body).unwrap()).await
}

/// An offer signed here, as a gateway signs one: only its bytes go to the node.
pub fn signed_offer(key: &SecretKey, offer_key: &str, price: u64, region: &str) -> Signed<Offer> {
    let t = now();
    let mut offer = samples::offer(key.public(), offer_key, t, t);
    offer.price.amount = price;
    offer.price.unit = PriceUnit::GibMonth;
    offer.regions = vec![region.try_into().unwrap()].try_into().unwrap();
    Signed::sign(offer, key).unwrap()
}

pub fn hex_of(offer: &Signed<Offer>) -> Value {
    json!({ "hex": hex::encode(Object::Offer(offer.clone()).encoded()) })
}

/// A fresh key that `node` holds as the account `name`, imported with `flashback api
/// import-key` as a gateway operator would.
pub async fn import_account(node: &TestNode, name: &str) -> SecretKey {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let file = super::write_key(dir.path(), &format!("{name}.key"), &key);
    let data_dir = node.dir.path().to_str().unwrap();
    super::cli_stdout(&[
        "api",
        "import-key",
        "--name",
        name,
        "--key",
        &file,
        "--data-dir",
        data_dir,
    ])
    .await;
    key
}
