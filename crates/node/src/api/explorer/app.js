// The Flashback explorer: plain modules over the node's /api/v1, no build step.
// Routes: #/ (listing), #/provider/<key>, #/market.

const app = document.getElementById("app");
const live = document.getElementById("live");

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

async function api(path) {
  const res = await fetch(`/api/v1${path}`, { headers: { accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : res.statusText);
  return body;
}

const short = (hex) => `${hex.slice(0, 10)}…`;
const price = (p) => `${p.decimal ?? `${p.amount} minor`} ${p.asset}/${p.unit === "gib_month" ? "GiB-month" : "unit-hour"}`;
const bytes = (n) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[i]}`;
};
const capacity = (o) => (o.kind === "storage" ? bytes(o.capacity) : `${o.capacity} units`);
const percent = (bp) => `${(bp / 100).toFixed(2)} %`;

function table(caption, columns, rows, attrs = {}) {
  return el("div", { class: "table-wrap" },
    el("table", { class: "cards", ...attrs },
      el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null, text: c.label })))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: columns.length, text: "none" })))));
}

function cell(label, content, num = false) {
  return el("td", { "data-label": label, class: num ? "num" : null }, content);
}

// ---- Listing ----

const FILTERS = [
  ["kind", "Kind", "select", ["", "storage", "compute"]],
  ["region", "Region", "text"],
  ["protocol", "Protocol", "text"],
  ["asset", "Asset", "text"],
  ["max_price", "Max price (minor units)", "number"],
  ["min_capacity", "Min capacity (bytes)", "number"],
  ["min_availability_bp", "Min availability (bp)", "number"],
  ["max_latency_ms", "Max p95 latency (ms)", "number"],
  ["min_reputation", "Min reputation (0-1)", "number"],
  ["sort", "Sort by", "select", ["price", "reputation", "capacity", "newest"]],
];

let events = null;

function subscribe(kinds, onEvent) {
  if (events) events.close();
  events = new EventSource(`/api/v1/events?kind=${kinds}`);
  for (const kind of kinds.split(",")) events.addEventListener(kind, (e) => onEvent(JSON.parse(e.data)));
  events.addEventListener("dropped", () => { live.textContent = "Live updates stopped; reload the page."; });
}

function listing(params) {
  const state = { pages: [""], params };
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter offers" },
    FILTERS.map(([name, label, type, options]) => el("label", { for: `filter-${name}` }, label,
      type === "select"
        ? el("select", { id: `filter-${name}`, name }, options.map((o) => el("option", { value: o, text: o || "any", selected: params.get(name) === o })))
        : el("input", { id: `filter-${name}`, name, type, step: type === "number" ? "any" : null, value: params.get(name) ?? "", inputmode: type === "number" ? "decimal" : null }))),
    el("button", { id: "apply", type: "submit", text: "Apply" }));
  const result = el("div", { id: "result" });
  const status = el("p", { class: "muted", id: "count" });
  const prev = el("button", { type: "button", id: "prev", text: "Previous page", disabled: true });
  const next = el("button", { type: "button", id: "next", text: "Next page", disabled: true });
  let fresh = new Set();

  const query = () => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v !== "") q.set(k, v);
    return q;
  };
  async function load() {
    const q = query();
    const after = state.pages[state.pages.length - 1];
    if (after) q.set("after", after);
    q.set("limit", "20");
    try {
      const page = await api(`/offers?${q}`);
      result.replaceChildren(offerTable(page.offers, fresh));
      fresh = new Set();
      status.textContent = `${page.offers.length} offers on this page`;
      next.disabled = !page.next;
      prev.disabled = state.pages.length < 2;
      next.onclick = () => { state.pages.push(page.next); load(); };
    } catch (e) {
      result.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
    }
  }
  prev.onclick = () => { state.pages.pop(); load(); };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    state.pages = [""];
    history.replaceState(null, "", `#/?${query()}`);
    load();
  });
  subscribe("offer,withdrawal", (ev) => {
    fresh.add(ev.id);
    live.textContent = `${ev.kind === "offer" ? "New offer" : "Withdrawn"}: ${ev.offer.offer_key} by ${short(ev.provider)}`;
    load();
  });
  app.replaceChildren(el("h2", { text: "Listing" }), form, status, result, el("div", { class: "pager" }, prev, next));
  load();
}

function offerTable(offers, fresh = new Set()) {
  const cols = [
    { label: "Offer" }, { label: "Provider" }, { label: "Capacity", num: true }, { label: "Price", num: true },
    { label: "Availability", num: true }, { label: "p95", num: true }, { label: "Regions" }, { label: "Protocols" }, { label: "Certified" },
  ];
  const rows = offers.map((o) => el("tr", { "data-offer-id": o.id, class: fresh.has(o.id) ? "new" : null },
    cell("Offer", el("span", {}, `${o.offer_key}${o.withdrawn ? " (withdrawn)" : ""} `, el("span", { class: "id", title: o.id, text: short(o.id) }))),
    cell("Provider", el("a", { href: `#/provider/${o.provider}`, class: "id", text: short(o.provider) })),
    cell("Capacity", capacity(o), true),
    cell("Price", price(o.price), true),
    cell("Availability", percent(o.qos.availability_bp), true),
    cell("p95", o.qos.p95_latency_ms ? `${o.qos.p95_latency_ms} ms` : "—", true),
    cell("Regions", o.regions.join(", ") || "any"),
    cell("Protocols", o.protocols.join(", ")),
    cell("Certified", o.certified.join(", ") || "—")));
  return table("Offers", cols, rows, { id: "offers" });
}

// ---- Provider ----

async function provider(key) {
  app.replaceChildren(el("p", { text: "Loading…" }));
  try {
    const p = await api(`/providers/${encodeURIComponent(key)}`);
    const r = p.reputation;
    const explanation = el("section", { id: "reputation-explanation", "aria-labelledby": "rep-h" },
      el("h3", { id: "rep-h", text: "Reputation" }),
      el("dl", { class: "facts" },
        el("dt", { text: "Score" }), el("dd", { text: r.score != null ? r.score.toFixed(3) : `unrated (evidence ${r.evidence.total.toFixed(2)} of the ${r.evidence.rated_at.toFixed(2)} a score needs)` }),
        el("dt", { text: "Evidence" }), el("dd", { text: `${r.evidence.anchored.toFixed(2)} anchored, ${r.evidence.earned.toFixed(2)} earned; discounted: ${r.evidence.discounted.no_standing.toFixed(2)} no standing, ${r.evidence.discounted.low_stake.toFixed(2)} low stake, ${r.evidence.discounted.capped.toFixed(2)} capped` }),
        el("dt", { text: "Beta mean" }), el("dd", { text: r.beta_mean.toFixed(3) }),
        el("dt", { text: "SLA compliance" }), el("dd", { text: r.compliance.toFixed(3) }),
        el("dt", { text: "Equivocation" }), el("dd", { text: p.flagged_equivocation ? "FLAGGED: signed two offers with one seq" : "none known" })),
      table(`Counted attestations (${r.counted.length})`, [{ label: "Attestation" }, { label: "Attester" }, { label: "Successes", num: true }, { label: "Weight", num: true }, { label: "Standing" }],
        r.counted.map((c) => el("tr", {}, cell("Attestation", el("span", { class: "id", text: short(c.id) })), cell("Attester", short(c.attester)), cell("Successes", `${c.successes}/${c.probes}`, true), cell("Weight", c.weight.toFixed(3), true), cell("Standing", `${c.standing_code}: ${c.why}`)))),
      table(`Excluded attestations (${r.excluded.length})`, [{ label: "Attestation" }, { label: "Attester" }, { label: "Why it does not count" }],
        r.excluded.map((x) => el("tr", {}, cell("Attestation", el("span", { class: "id", text: short(x.id) })), cell("Attester", short(x.attester)), cell("Why it does not count", x.reason)))));
    const certs = table(`Certificates (${p.certificates.length}${p.more_certificates ? "+" : ""})`, [{ label: "Issuer" }, { label: "Claims" }, { label: "Status" }, { label: "Expires" }],
      p.certificates.map((c) => el("tr", {}, cell("Issuer", c.issuer_name ?? short(c.issuer)), cell("Claims", c.claims.map((x) => `${x.name}=${x.value}`).join(", ")), cell("Status", c.detail), cell("Expires", c.expires_at.rfc3339 ?? c.expires_at.unix))));
    const docs = p.offers.flatMap((o) => o.compliance_docs);
    const compliance = el("section", { "aria-labelledby": "docs-h" }, el("h3", { id: "docs-h", text: "Compliance documents" }),
      docs.length ? el("ul", {}, docs.map((d) => el("li", {}, el("a", { href: d.url, rel: "noopener", text: d.title }), " ", el("span", { class: "id", text: `blake3 ${short(d.digest)}` })))) : el("p", { class: "muted", text: "none declared" }));
    const agreements = table(`Agreements (${p.agreements.length})`, [{ label: "Agreement" }, { label: "Consumer" }, { label: "Volume", num: true }, { label: "Total", num: true }, { label: "Ends" }, { label: "Status" }],
      p.agreements.map((a) => el("tr", {}, cell("Agreement", el("span", { class: "id", text: short(a.agreement_id) })), cell("Consumer", short(a.consumer)), cell("Volume", bytes(a.volume), true), cell("Total", `${a.total.decimal ?? a.total.amount} ${a.total.asset}`, true), cell("Ends", a.end.rfc3339 ?? a.end.unix), cell("Status", a.status))));
    app.replaceChildren(el("h2", {}, "Provider ", el("span", { class: "id", text: p.provider })), explanation,
      el("section", { "aria-labelledby": "offers-h" }, el("h3", { id: "offers-h", text: "Offers" }), offerTable(p.offers)), certs, compliance, agreements);
  } catch (e) {
    app.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
  }
}

// ---- Market ----

async function market() {
  try {
    const m = await api("/market");
    const top = Math.max(1, ...m.groups.map((g) => g.max));
    const rows = m.groups.map((g) => el("tr", {},
      cell("Kind", g.kind), cell("Region", g.region), cell("Asset", `${g.asset}/${g.unit}`), cell("Offers", g.offers, true),
      cell("Min", g.min, true), cell("Median", g.p50, true), cell("p90", g.p90, true), cell("Max", g.max, true),
      cell("Distribution", el("div", { class: "bar", role: "img", "aria-label": `median ${g.p50} of highest ${top}`, style: `width:${Math.round((g.p50 / top) * 100)}%` })),
      cell("Capacity", g.kind === "storage" ? bytes(g.capacity) : `${g.capacity} units`, true)));
    app.replaceChildren(el("h2", { text: "Market" }),
      el("p", { text: `${m.offers} live offers from ${m.providers} providers: ${bytes(m.storage_bytes)} of storage and ${m.compute_units} compute units offered${m.truncated ? " (first part of the listing only)" : ""}.` }),
      table("Prices in minor units, by kind, region and asset", [
        { label: "Kind" }, { label: "Region" }, { label: "Asset" }, { label: "Offers", num: true }, { label: "Min", num: true },
        { label: "Median", num: true }, { label: "p90", num: true }, { label: "Max", num: true }, { label: "Distribution" }, { label: "Capacity", num: true }], rows, { id: "market" }));
  } catch (e) {
    app.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
  }
}

// ---- Routing ----

function route() {
  const hash = location.hash.slice(1) || "/";
  const [path, search] = hash.split("?");
  if (path.startsWith("/provider/")) {
    if (events) { events.close(); events = null; }
    provider(decodeURIComponent(path.slice("/provider/".length)));
  } else if (path === "/market") {
    if (events) { events.close(); events = null; }
    market();
  } else {
    listing(new URLSearchParams(search ?? ""));
  }
  app.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
api("/status").then((s) => { document.getElementById("node").textContent = `node ${short(s.peer_id)} · ${s.peers} peers · v${s.version}`; }).catch(() => {});
route();
