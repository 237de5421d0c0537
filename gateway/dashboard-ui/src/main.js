// The analytical dashboard: fetches /api/v1/stats/overview and draws every table as a chart
// (Chart.js) next to the same numbers as an accessible, sortable, exportable table.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  ArcElement,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  BarController, BarElement, CategoryScale, DoughnutController, ArcElement, Legend,
  LinearScale, LineController, LineElement, PointElement, Tooltip,
);

const API = "/api/v1/stats/overview";
const TOKEN_KEY = "zp-dashboard-token";
const LANG_KEY = "zp-dashboard-lang";
// colour-blind safe (Okabe–Ito), all with >= 3:1 contrast on white
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#7a5c00", "#56489c", "#000000"];

const T = {
  uk: {
    skip: "Перейти до змісту", title: "Відкриті дані Запоріжжя: аналітична панель", print: "Друк",
    signin_title: "Вхід для модераторів", email: "Електронна пошта", password: "Пароль", signin: "Увійти",
    signin_hint: "Вхід для модераторів: внутрішні показники та деталізація за розпорядниками.",
    signed_as: "Ви увійшли як", drill: "Розпорядник", all_orgs: "Усі розпорядники", signout: "Вийти",
    loading: "Завантаження…", key_figures: "Головні показники", loaded: "Дані завантажено",
    footer: "Дані обчислюються службами порталу та оновлюються щонайменше раз на 30 секунд. Кожну таблицю можна завантажити у CSV або XLSX.",
    generated: "Станом на", internal: "внутрішнє", unavailable: "Тимчасово недоступні показники:",
    bad_login: "Неправильна пошта або пароль.", not_moderator: "Цей обліковий запис не має прав модератора: показано публічні дані.",
    load_failed: "Не вдалося завантажити дані", empty: "Даних ще немає.", sort_by: "Сортувати за",
    chart_of: "Діаграма", table_note: "Ті самі числа наведено в таблиці нижче.", moderator_view: "Режим модератора",
    yes: "так", no: "ні", export_csv: "CSV", export_xlsx: "XLSX", download: "Завантажити таблицю",
    fig: {
      datasets_published: "Оприлюднених наборів", kpi_pct: "KPI якості, %", kpi_target_pct: "Ціль KPI, %",
      mandatory_coverage_pct: "Покриття обовʼязкового переліку, %", datasets_overdue: "Прострочених наборів",
      feedback_reports: "Звернень щодо даних", feedback_on_time_pct: "Відповіли вчасно, %",
      requests_total: "Запитів на нові набори", downloads_total: "Завантажень за рік",
      harvest_last_at: "Останнє збирання data.gov.ua", harvest_last_complete: "data.gov.ua отримав усе",
      datasets_total: "Наборів у всіх статусах", feedback_overdue: "Прострочених звернень", feedback_open: "Відкритих звернень",
    },
  },
  en: {
    skip: "Skip to content", title: "Zaporizhzhia open data: analytical dashboard", print: "Print",
    signin_title: "Moderator sign-in", email: "Email", password: "Password", signin: "Sign in",
    signin_hint: "For moderators: internal figures and the per-organization drill-down.",
    signed_as: "Signed in as", drill: "Data steward", all_orgs: "All data stewards", signout: "Sign out",
    loading: "Loading…", key_figures: "Key figures", loaded: "Data loaded",
    footer: "Figures are computed by the portal's services and refreshed at least every 30 seconds. Every table can be downloaded as CSV or XLSX.",
    generated: "As of", internal: "internal", unavailable: "Figures temporarily unavailable:",
    bad_login: "Wrong email or password.", not_moderator: "This account is not a moderator: showing the public figures.",
    load_failed: "Could not load the data", empty: "No data yet.", sort_by: "Sort by",
    chart_of: "Chart", table_note: "The same numbers are in the table below.", moderator_view: "Moderator view",
    yes: "yes", no: "no", export_csv: "CSV", export_xlsx: "XLSX", download: "Download the table",
    fig: {
      datasets_published: "Published datasets", kpi_pct: "Quality KPI, %", kpi_target_pct: "KPI target, %",
      mandatory_coverage_pct: "Mandatory list coverage, %", datasets_overdue: "Overdue datasets",
      feedback_reports: "Feedback reports", feedback_on_time_pct: "Answered on time, %",
      requests_total: "Requests for new datasets", downloads_total: "Downloads in the last year",
      harvest_last_at: "Last data.gov.ua harvest", harvest_last_complete: "data.gov.ua got everything",
      datasets_total: "Datasets in every status", feedback_overdue: "Overdue feedback reports", feedback_open: "Open feedback reports",
    },
  },
};
const PUBLIC_FIGURES = [
  "datasets_published", "kpi_pct", "kpi_target_pct", "mandatory_coverage_pct", "datasets_overdue",
  "feedback_reports", "feedback_on_time_pct", "requests_total", "downloads_total",
  "harvest_last_at", "harvest_last_complete",
];
const INTERNAL_FIGURES = ["datasets_total", "feedback_open", "feedback_overdue"];

const state = {
  lang: localStorage.getItem(LANG_KEY) === "en" ? "en" : "uk",
  token: sessionStorage.getItem(TOKEN_KEY),
  who: null,
  org: "",
  doc: null,
  charts: {},
  sort: {}, // table id -> {key, dir}
};
// for tests and debugging: what each chart was drawn with
window.__dashboard = { charts: {}, ready: false, doc: null };

const $ = (sel) => document.querySelector(sel);
const t = (k) => T[state.lang][k] ?? T.uk[k] ?? k;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function locale() {
  return state.lang === "en" ? "en-GB" : "uk-UA";
}

function fmt(value, type) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? t("yes") : t("no");
  if (typeof value === "number") {
    return value.toLocaleString(locale(), { maximumFractionDigits: type === "percent" ? 1 : 2 });
  }
  if (type === "datetime" && /^\d{4}-\d\d-\d\dT/.test(value)) {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime())) return d.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short", timeZone: "Europe/Kyiv" });
  }
  if (state.lang === "en" && (value === "так" || value === "ні")) return value === "так" ? "yes" : "no";
  return String(value);
}

function cellValue(row, key) {
  if (state.lang === "en" && row[`${key}_en`] !== undefined) return row[`${key}_en`];
  return row[key];
}

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function fetchOverview() {
  const url = new URL(API, location.origin);
  if (state.org) url.searchParams.set("organization_id", state.org);
  const resp = await fetch(url, { headers: { Accept: "application/json", ...authHeaders() } });
  if (resp.status === 401 && state.token) {
    signOut();
    return fetchOverview();
  }
  if (!resp.ok) throw new Error(`${resp.status}`);
  return resp.json();
}

function applyStaticText() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const lang = $("#lang");
  lang.textContent = state.lang === "uk" ? "English" : "Українська";
  lang.setAttribute("lang", state.lang === "uk" ? "en" : "uk");
  lang.setAttribute("aria-label", state.lang === "uk" ? "English version" : "Українська версія");
}

function renderCards(doc) {
  const dl = $("#cards");
  dl.replaceChildren();
  const names = doc.audience === "moderator" ? [...PUBLIC_FIGURES, ...INTERNAL_FIGURES] : PUBLIC_FIGURES;
  for (const key of names) {
    if (!(key in doc.figures)) continue;
    const type = key.endsWith("_pct") ? "percent" : key.endsWith("_at") ? "datetime" : "number";
    const internal = INTERNAL_FIGURES.includes(key);
    dl.append(
      el("div", { class: internal ? "internal" : null, "data-figure": key },
        el("dt", { text: t("fig")[key] + (internal ? ` (${t("internal")})` : "") }),
        el("dd", { "data-value": JSON.stringify(doc.figures[key]), text: fmt(doc.figures[key], type) })),
    );
  }
}

function renderUnavailable(doc) {
  const box = $("#unavailable");
  const bad = Object.entries(doc.sources).filter(([, s]) => s.status !== "ok");
  box.hidden = bad.length === 0;
  box.replaceChildren();
  if (bad.length) {
    box.append(el("strong", { text: t("unavailable") }), " ",
      bad.map(([name, s]) => `${name} (${s.reason})`).join("; "));
  }
}

function sortedRows(table) {
  const s = state.sort[table.id];
  if (!s) return table.rows;
  const col = table.columns.find((c) => c.key === s.key);
  const numeric = col && ["number", "percent"].includes(col.type);
  const rows = [...table.rows];
  rows.sort((a, b) => {
    const x = cellValue(a, s.key);
    const y = cellValue(b, s.key);
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const c = numeric ? x - y : String(x).localeCompare(String(y), locale());
    return s.dir === "asc" ? c : -c;
  });
  return rows;
}

function renderTable(table, holder) {
  const caption = el("caption", { text: state.lang === "en" ? table.title_en : table.title });
  const headRow = el("tr");
  for (const c of table.columns) {
    const s = state.sort[table.id];
    const dir = s && s.key === c.key ? (s.dir === "asc" ? "ascending" : "descending") : "none";
    const label = c[state.lang] ?? c.uk;
    const btn = el("button", {
      type: "button",
      "data-sort": c.key,
      "aria-label": `${t("sort_by")}: ${label}`,
      onclick: () => {
        const cur = state.sort[table.id];
        const numeric = ["number", "percent"].includes(c.type);
        const first = numeric ? "desc" : "asc";
        const next = cur && cur.key === c.key ? (cur.dir === "asc" ? "desc" : "asc") : first;
        state.sort[table.id] = { key: c.key, dir: next };
        renderTable(table, holder);
        holder.querySelector(`button[data-sort="${c.key}"]`)?.focus();
      },
    }, label);
    headRow.append(el("th", { scope: "col", "aria-sort": dir, class: ["number", "percent"].includes(c.type) ? "num" : null, "data-key": c.key }, btn));
  }
  const body = el("tbody");
  for (const r of sortedRows(table)) {
    const tr = el("tr");
    table.columns.forEach((c, i) => {
      const v = cellValue(r, c.key);
      const attrs = {
        class: ["number", "percent"].includes(c.type) ? "num" : null,
        "data-key": c.key,
        "data-value": JSON.stringify(r[c.key] ?? null),
        text: fmt(v, c.type),
      };
      tr.append(i === 0 ? el("th", { scope: "row", ...attrs }) : el("td", attrs));
    });
    body.append(tr);
  }
  const tableEl = el("table", { "data-table": table.id, id: `table-${table.id}` }, caption, el("thead", {}, headRow), body);
  holder.replaceChildren(tableEl);
  if (!table.rows.length) holder.append(el("p", { class: "empty", text: t("empty") }));
}

function chartSummary(table) {
  const label = table.label;
  const parts = table.rows.slice(0, 30).map((r) => {
    const vals = table.values.map((k) => {
      const c = table.columns.find((x) => x.key === k);
      return `${c ? c[state.lang] ?? c.uk : k} ${fmt(r[k], c?.type)}`;
    });
    return `${fmt(cellValue(r, label))}: ${vals.join(", ")}`;
  });
  const more = table.rows.length > 30 ? ` … (+${table.rows.length - 30})` : "";
  return parts.length ? parts.join("; ") + more : t("empty");
}

function drawChart(table, canvas) {
  const labels = table.rows.map((r) => String(cellValue(r, table.label) ?? "—"));
  const datasets = table.values.map((k, i) => {
    const c = table.columns.find((x) => x.key === k);
    const colour = PALETTE[i % PALETTE.length];
    return {
      label: c ? c[state.lang] ?? c.uk : k,
      key: k,
      data: table.rows.map((r) => (typeof r[k] === "number" ? r[k] : null)),
      backgroundColor: table.chart === "doughnut" ? table.rows.map((_, j) => PALETTE[j % PALETTE.length]) : colour,
      borderColor: table.chart === "line" ? colour : undefined,
      borderDash: table.chart === "line" && k === "target" ? [6, 4] : undefined,
      tension: 0.2,
    };
  });
  const horizontal = table.chart === "bar" && (labels.length > 6 || labels.some((l) => l.length > 18));
  const chart = new Chart(canvas, {
    type: table.chart,
    data: { labels, datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      indexAxis: horizontal ? "y" : "x",
      locale: locale(),
      plugins: { legend: { display: datasets.length > 1 || table.chart === "doughnut" } },
      scales: table.chart === "doughnut" ? {} : {
        x: { ticks: { precision: 0, callback(v) { const s = this.getLabelForValue ? this.getLabelForValue(v) : v; return horizontal || typeof s !== "string" ? s : s.slice(0, 14); } } },
        y: { beginAtZero: true, ticks: { precision: 0, callback(v) { const s = this.getLabelForValue ? this.getLabelForValue(v) : v; return horizontal && typeof s === "string" ? (s.length > 28 ? s.slice(0, 27) + "…" : s) : v; } } },
      },
    },
  });
  state.charts[table.id] = chart;
  window.__dashboard.charts[table.id] = {
    type: table.chart,
    labels,
    datasets: datasets.map((d) => ({ key: d.key, label: d.label, data: d.data })),
  };
}

function download(table, format) {
  const url = new URL(`${API}/tables/${table.id}`, location.origin);
  url.searchParams.set("format", format);
  url.searchParams.set("lang", state.lang);
  if (state.org) url.searchParams.set("organization_id", state.org);
  fetch(url, { headers: authHeaders() })
    .then((r) => { if (!r.ok) throw new Error(r.status); return r.blob(); })
    .then((blob) => {
      const a = el("a", { href: URL.createObjectURL(blob), download: `${table.id}.${format}` });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    })
    .catch((e) => { $("#status").textContent = `${t("load_failed")}: ${e.message}`; });
}

function renderSections(doc) {
  for (const c of Object.values(state.charts)) c.destroy();
  state.charts = {};
  window.__dashboard.charts = {};
  const root = $("#sections");
  root.replaceChildren();
  for (const table of doc.tables) {
    const title = state.lang === "en" ? table.title_en : table.title;
    const hid = `h-${table.id}`;
    const section = el("section", {
      class: `figure${table.internal ? " internal" : ""}`,
      "aria-labelledby": hid,
      "data-section": table.id,
      "data-badge": t("internal"),
    }, el("h2", { id: hid, text: title }));
    const grid = el("div", { class: `grid${table.chart && table.rows.length ? "" : " table-only"}` });
    if (table.chart && table.rows.length) {
      const descId = `desc-${table.id}`;
      const canvas = el("canvas", {
        role: "img",
        "aria-label": `${t("chart_of")}: ${title}. ${t("table_note")}`,
        "aria-describedby": descId,
        "data-chart": table.id,
      });
      grid.append(el("div", { class: "chart" }, canvas,
        el("p", { id: descId, class: "visually-hidden", "data-summary": table.id, text: chartSummary(table) })));
      section.append(grid);
      grid.append(el("div", { class: "tablewrap", tabindex: "0", role: "region", "aria-label": title }));
      root.append(section);
      drawChart(table, canvas);
    } else {
      grid.append(el("div", { class: "tablewrap", tabindex: "0", role: "region", "aria-label": title }));
      section.append(grid);
      root.append(section);
    }
    renderTable(table, grid.querySelector(".tablewrap"));
    section.append(el("div", { class: "exports", role: "group", "aria-label": `${t("download")}: ${title}` },
      el("button", { type: "button", class: "btn small", "data-export": "csv", onclick: () => download(table, "csv") }, t("export_csv")),
      el("button", { type: "button", class: "btn small", "data-export": "xlsx", onclick: () => download(table, "xlsx") }, t("export_xlsx"))));
  }
}

function render() {
  const doc = state.doc;
  applyStaticText();
  if (!doc) return;
  const when = fmt(doc.generated_at, "datetime");
  $("#generated").textContent = `${t("generated")} ${when}${doc.audience === "moderator" ? ` · ${t("moderator_view")}` : ""}`;
  document.body.dataset.audience = doc.audience;
  renderCards(doc);
  renderUnavailable(doc);
  renderSections(doc);
}

async function load() {
  window.__dashboard.ready = false;
  $("#status").textContent = t("loading");
  try {
    state.doc = await fetchOverview();
    window.__dashboard.doc = state.doc;
    render();
    $("#status").textContent = t("loaded");
  } catch (e) {
    $("#status").textContent = `${t("load_failed")}: ${e.message}`;
  }
  window.__dashboard.ready = true;
  document.body.dataset.ready = "1";
}

function parseJwt(token) {
  try {
    const b = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(b))));
  } catch {
    return null;
  }
}

async function loadOrganizations() {
  const select = $("#org");
  select.querySelectorAll("option[value]:not([value=''])").forEach((o) => o.remove());
  try {
    const r = await fetch("/api/v1/organizations?limit=100", { headers: authHeaders() });
    if (!r.ok) return;
    const page = await r.json();
    for (const o of page.items || []) {
      const name = (state.lang === "en" && o.title_en) || o.title || o.name;
      select.append(el("option", { value: o.id, text: name }));
    }
    select.value = state.org;
  } catch { /* the drill-down stays at "all" */ }
}

function showAuth() {
  const claims = state.token ? parseJwt(state.token) : null;
  const signedIn = Boolean(claims);
  $("#signin").hidden = signedIn;
  $("#signedin").hidden = !signedIn;
  if (signedIn) {
    $("#who").textContent = claims.name || claims.email;
    const mod = (claims.roles || []).some((r) => r === "moderator" || r === "admin");
    $("#org").disabled = !mod;
    $("#signin-error").textContent = mod ? "" : t("not_moderator");
    if (mod) loadOrganizations();
  }
}

function signOut() {
  state.token = null;
  state.org = "";
  sessionStorage.removeItem(TOKEN_KEY);
  showAuth();
}

async function signIn(ev) {
  ev.preventDefault();
  $("#signin-error").textContent = "";
  const body = new URLSearchParams({ username: $("#email").value.trim(), password: $("#password").value, grant_type: "password" });
  try {
    const r = await fetch("/api/v1/auth/token", { method: "POST", body, headers: { Accept: "application/json" } });
    if (!r.ok) {
      $("#signin-error").textContent = r.status === 429 ? `${t("bad_login")} (429)` : t("bad_login");
      return;
    }
    state.token = (await r.json()).access_token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("#password").value = "";
    showAuth();
    await load();
    $("#main").focus();
  } catch (e) {
    $("#signin-error").textContent = `${t("load_failed")}: ${e.message}`;
  }
}

function init() {
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => { signOut(); load(); });
  $("#org").addEventListener("change", (e) => { state.org = e.target.value; load(); });
  $("#print").addEventListener("click", () => window.print());
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "uk" ? "en" : "uk";
    localStorage.setItem(LANG_KEY, state.lang);
    render();
    if (state.token) loadOrganizations();
    $("#lang").focus();
  });
  window.addEventListener("beforeprint", () => { for (const c of Object.values(state.charts)) c.resize(); });
  applyStaticText();
  showAuth();
  load();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
