// The maintainers' page: the releases table (#/) and one release (#/releases/<id>), read from the
// releases API of the same origin. Every URL is relative to the page, so it works under a stage
// prefix; every string from the API goes into the page as text (no innerHTML).
"use strict";

(() => {
  const LIST_REFRESH_MS = 10000;
  const RELEASE_REFRESH_MS = 3000;
  const PAGE_SIZE = 20;
  const STATUSES = ["RUNNING", "PUBLISHED", "SUCCEEDED", "PARTIAL", "MARKETPLACE_FAILED", "PUBLISHED_WITH_ERRORS",
    "FAILED", "ABORTED", "TIMED_OUT", "RETIRED"];
  const STAGES = ["prepare", "build", "preflight", "distribute", "validate", "announce", "marketplace",
    "finalize"];
  // Release, execution, stage, step, region, image and change set statuses, by the colour they get.
  const TONES = {
    ok: ["SUCCEEDED", "succeeded", "validated", "published", "copied", "available", "signed"],
    live: ["RUNNING", "running", "copying", "PREPARING", "APPLYING", "WAITING", "PUBLISHED"],
    warn: ["PARTIAL", "MARKETPLACE_FAILED", "PUBLISHED_WITH_ERRORS", "skipped", "CANCELLED", "OVERDUE", "REFUSED",
      "unsigned", "not-verified"],
    bad: ["FAILED", "failed", "TIMED_OUT", "ABORTED", "error", "deregistered"],
    idle: ["RETIRED", "pending", "not-run", "planned", "ready", "built-earlier", "NOT_SENT", "UNKNOWN",
      "not-checked"],
  };
  const TONE_OF = new Map(Object.entries(TONES).flatMap(([tone, names]) => names.map((name) => [name, tone])));

  const knownStreams = new Set();
  const screen = { generation: 0, timer: null };

  // -- DOM, always as text -------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function tone(status) {
    return TONE_OF.get(status) || "idle";
  }

  function badge(status, label) {
    const text = status === null || status === undefined || status === "" ? "unknown" : String(status);
    return h("span", { class: `badge tone-${tone(text)}`, "data-status": text }, label || text.replace(/_/g, " "));
  }

  function mono(text, title, wrap = false) {
    return h("span", { class: wrap ? "mono wrap-any" : "mono", title: title || null }, text);
  }

  // A ref or path that may break after each slash, and nowhere else.
  function path(text) {
    const parts = String(text || "").split("/");
    return h("span", { class: "mono path" }, parts.flatMap((part, i) => (i ? ["/", h("wbr", {}), part] : [part])));
  }

  function section(testid, title, ...content) {
    return h("section", { class: "card", "data-testid": testid }, h("h3", {}, title), ...content);
  }

  // A heading is a string, or [text, attributes] (an architecture's name keeps its case).
  function table(attrs, headings, rows) {
    const cells = headings.map((heading) => (Array.isArray(heading) ? h("th", heading[1], heading[0])
      : h("th", {}, heading)));
    return h("div", { class: "scroll" }, h("table", attrs, h("thead", {}, h("tr", {}, cells)), h("tbody", {}, rows)));
  }

  function showError(message) {
    const banner = document.getElementById("error");
    banner.textContent = message || "";
    banner.hidden = !message;
  }

  // -- time ----------------------------------------------------------------------------------

  function parseTime(text) {
    if (!text) return null;
    // Python writes microseconds; keep milliseconds, which every Date parser takes.
    const normal = String(text).replace(/(\.\d{3})\d+/, "$1").replace(/\+00:00$/, "Z");
    const time = new Date(normal);
    return Number.isNaN(time.getTime()) ? null : time;
  }

  function pad(number, width = 2) {
    return String(number).padStart(width, "0");
  }

  function dateTime(text) {
    const time = parseTime(text);
    if (!time) return text || "";
    return `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())} `
      + `${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())}`;
  }

  function clock(text) {
    const time = parseTime(text);
    if (!time) return "";
    return `${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())}`;
  }

  function duration(fromText, toText) {
    const from = parseTime(fromText);
    if (!from) return "";
    const to = parseTime(toText) || new Date();
    const seconds = Math.max(0, (to - from) / 1000);
    if (seconds < 10) return `${seconds.toFixed(2)} s`;
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${pad(Math.floor(seconds % 60))} s`;
    return `${Math.floor(seconds / 3600)} h ${pad(Math.floor((seconds % 3600) / 60))} min`;
  }

  function nowClock() {
    return clock(new Date().toISOString());
  }

  // -- the API -------------------------------------------------------------------------------

  async function api(path) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (failure) {
      throw new Error(`cannot reach the releases API (${path}): ${failure.message}`);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_notJson) {
      body = null;
    }
    if (!response.ok) {
      const reason = (body && (body.error || body.message || body.Message)) || text.slice(0, 300)
        || response.statusText;
      throw new Error(`${path}: ${response.status} ${reason}`);
    }
    if (body === null || typeof body !== "object") throw new Error(`${path}: the API did not answer with JSON`);
    return body;
  }

  function releasesPath(filters, nextToken) {
    const query = new URLSearchParams();
    if (filters.stream) query.set("stream", filters.stream);
    if (filters.status) query.set("status", filters.status);
    query.set("limit", String(PAGE_SIZE));
    if (nextToken) query.set("next_token", nextToken);
    return `releases?${query}`;
  }

  // -- screens -------------------------------------------------------------------------------

  function leave() {
    screen.generation += 1;
    clearTimeout(screen.timer);
    screen.timer = null;
  }

  function later(generation, action, ms) {
    if (generation !== screen.generation) return;
    clearTimeout(screen.timer);
    screen.timer = setTimeout(() => {
      if (generation === screen.generation) action();
    }, ms);
  }

  function releaseHref(releaseId) {
    return `#/releases/${encodeURIComponent(releaseId)}`;
  }

  function route() {
    leave();
    showError("");
    const hash = location.hash.replace(/^#/, "");
    const release = hash.match(/^\/releases\/([^/?]+)\/?$/);
    const view = document.getElementById("view");
    if (release) {
      let releaseId;
      try {
        releaseId = decodeURIComponent(release[1]);
      } catch (_badEscape) {
        releaseId = release[1];
      }
      showRelease(view, releaseId);
    } else {
      const query = new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
      showList(view, { stream: query.get("stream") || "", status: query.get("status") || "" });
    }
  }

  // -- the releases table ----------------------------------------------------------------------

  function note(release) {
    if (release.failure) return release.failure;
    const parts = [];
    const missing = Object.keys(release.missing_regions || {});
    if (missing.length) {
      parts.push(`${missing.length} region${missing.length === 1 ? "" : "s"} missing: ${missing.join(", ")}`);
    }
    if ((release.missing_arches || []).length) parts.push(`without ${release.missing_arches.join(", ")}`);
    return parts.join("; ");
  }

  function releaseRow(release) {
    const href = releaseHref(release.release_id);
    const text = note(release);
    return h("tr", {
      class: "clickable", "data-testid": "release-row", "data-release": release.release_id,
      onclick: (event) => {
        if (event.target.closest("a") || String(window.getSelection() || "")) return;
        location.hash = href;
      },
    },
    h("td", {}, h("a", { href, class: "mono", "data-testid": "release-link" }, release.release_id)),
    h("td", { "data-col": "stream" }, release.stream),
    h("td", { "data-col": "version" }, release.version),
    h("td", { "data-col": "status" }, badge(release.status)),
    h("td", { "data-col": "trigger" }, release.trigger),
    h("td", { "data-col": "created", class: "nowrap" }, dateTime(release.created_at)),
    h("td", { "data-col": "note", class: `note${release.failure ? " note-bad" : ""}`, title: text || null }, text));
  }

  function showList(view, filters) {
    const generation = screen.generation;
    document.title = "Releases — atomic-release";
    const state = { rows: [], pages: 1, nextToken: null, busy: false };

    const streamInput = h("input", {
      id: "filter-stream", name: "stream", list: "known-streams", value: filters.stream, placeholder: "any stream",
      autocomplete: "off", "data-testid": "filter-stream",
    });
    const streamList = h("datalist", { id: "known-streams" });
    const statusSelect = h("select", { id: "filter-status", name: "status", "data-testid": "filter-status" },
      h("option", { value: "" }, "any status"),
      STATUSES.map((status) => h("option", { value: status, selected: status === filters.status }, status)));
    if (filters.status && !STATUSES.includes(filters.status)) {
      statusSelect.append(h("option", { value: filters.status, selected: true }, filters.status));
    }
    const apply = () => {
      const query = new URLSearchParams();
      if (streamInput.value.trim()) query.set("stream", streamInput.value.trim());
      if (statusSelect.value) query.set("status", statusSelect.value);
      const target = `#/${query.toString() ? `?${query}` : ""}`;
      if (location.hash !== target) location.hash = target;   // the table follows the address
    };
    statusSelect.addEventListener("change", apply);
    streamInput.addEventListener("change", apply);
    const form = h("form", { class: "filters", "data-testid": "filters", onsubmit: (event) => {
      event.preventDefault();
      apply();
    } },
    h("label", { for: "filter-stream" }, "Stream"), streamInput, streamList,
    h("label", { for: "filter-status" }, "Status"), statusSelect,
    h("button", { type: "submit" }, "Apply"),
    (filters.stream || filters.status) ? h("a", { href: "#/", class: "clear" }, "clear filters") : null);

    const body = h("tbody", {}, h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Loading…")));
    const more = h("button", { type: "button", "data-testid": "more", hidden: true }, "More");
    const updated = h("span", { class: "muted", "data-testid": "updated" }, "");
    const tableNode = h("div", { class: "scroll" },
      h("table", { class: "releases", "data-testid": "releases-table" },
        h("thead", {}, h("tr", {}, ["Release", "Stream", "Version", "Status", "Trigger", "Created (UTC)", "Note"]
          .map((heading) => h("th", {}, heading)))),
        body));
    view.replaceChildren(
      h("div", { class: "title-row" }, h("h2", {}, "Releases"), updated),
      form, h("section", { class: "card flush" }, tableNode), h("div", { class: "more-row" }, more));

    function render() {
      for (const release of state.rows) knownStreams.add(release.stream);
      streamList.replaceChildren(...[...knownStreams].sort().map((stream) => h("option", { value: stream })));
      body.replaceChildren(...(state.rows.length ? state.rows.map(releaseRow)
        : [h("tr", {}, h("td", { colspan: 7, class: "muted", "data-testid": "no-releases" },
          "No release matches."))]));
      more.hidden = !state.nextToken;
      updated.textContent = `updated ${nowClock()} UTC · refreshes every ${LIST_REFRESH_MS / 1000} s`;
    }

    async function load() {
      if (state.busy) {
        later(generation, load, LIST_REFRESH_MS);
        return;
      }
      state.busy = true;
      more.disabled = true;
      try {
        // The same number of pages as shown, from the top: new releases come first.
        const rows = [];
        let token = null;
        for (let page = 0; page < state.pages; page += 1) {
          const answer = await api(releasesPath(filters, token));
          rows.push(...(answer.releases || []));
          token = answer.next_token || null;
          if (!token) break;
        }
        if (generation !== screen.generation) return;
        Object.assign(state, { rows, nextToken: token });
        showError("");
        render();
      } catch (failure) {
        if (generation !== screen.generation) return;
        showError(failure.message);
        if (!state.rows.length) {
          body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "The releases could not be read.")));
        }
      } finally {
        state.busy = false;
        more.disabled = false;
        later(generation, load, LIST_REFRESH_MS);
      }
    }

    more.addEventListener("click", async () => {
      if (state.busy || !state.nextToken) return;
      state.busy = true;
      more.disabled = true;
      try {
        const answer = await api(releasesPath(filters, state.nextToken));
        if (generation !== screen.generation) return;
        state.rows.push(...(answer.releases || []));
        state.nextToken = answer.next_token || null;
        state.pages += 1;
        showError("");
        render();
      } catch (failure) {
        if (generation === screen.generation) showError(failure.message);
      } finally {
        state.busy = false;
        more.disabled = false;
      }
    });

    load();
  }

  // -- one release -----------------------------------------------------------------------------

  function releaseHeader(data) {
    const release = data.release;
    const missing = Object.entries(release.missing_regions || {});
    const live = data.execution_status === "RUNNING";
    const fact = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
    return h("section", { class: "card release-header", "data-testid": "release-header" },
      h("div", { class: "title-row" },
        h("h2", {}, h("span", { "data-testid": "release-stream" }, release.stream), " ",
          h("span", { "data-testid": "release-version" }, release.version)),
        h("span", { "data-testid": "release-status" }, badge(release.status)),
        h("span", { class: `live${live ? " on" : ""}`, "data-testid": "live" },
          live ? `live · refreshes every ${RELEASE_REFRESH_MS / 1000} s` : `updated ${nowClock()} UTC`)),
      h("dl", { class: "facts" },
        fact("Release", mono(release.release_id, null, true)),
        fact("Trigger", release.trigger),
        fact("Created", `${dateTime(release.created_at)} UTC`),
        fact("Updated", `${dateTime(release.updated_at)} UTC`),
        fact("Current run", badge(data.execution_status)),
        fact("Architectures", (release.arches || []).join(", ") || "none",
          (release.missing_arches || []).length ? ` (without ${release.missing_arches.join(", ")})` : ""),
        fact("Regions", String((release.regions || []).length)),
        typeof release.signatures_required === "boolean" ? fact("Signatures", h("span",
          { "data-testid": "signatures-required" }, release.signatures_required ? "required by the stream"
            : "not required by the stream")) : null,
        release.metadata_url ? fact("Stream metadata", mono(release.metadata_url, null, true)) : null),
      release.failure ? h("p", { class: "failure", "data-testid": "failure" }, release.failure,
        failedRunLink(data.runs, release.execution_arn)) : null,
      missing.length ? h("div", { class: "missing", "data-testid": "missing-regions" },
        h("strong", {}, `Not published in ${missing.length} region${missing.length === 1 ? "" : "s"}:`),
        h("ul", {}, missing.map(([region, reason]) => h("li", { "data-region": region },
          h("span", { class: "mono" }, region), " ", reason)))) : null);
  }

  function stagesSection(stages) {
    const byName = new Map((stages || []).map((stage) => [stage.name, stage]));
    const names = [...STAGES, ...[...byName.keys()].filter((name) => !STAGES.includes(name))];
    const items = names.map((name) => {
      const stage = byName.get(name) || { name, status: "pending" };
      const running = stage.status === "running";
      return h("li", { class: `stage tone-${tone(stage.status)}`, "data-testid": "stage", "data-stage": name,
        "data-status": stage.status },
      h("div", { class: "stage-name" }, name),
      h("div", { class: "stage-status" }, stage.status),
      h("div", { class: "stage-time" }, stage.started_at ? `${clock(stage.started_at)} UTC` : "—"),
      h("div", { class: "stage-time" }, stage.started_at
        ? (running ? `for ${duration(stage.started_at, null)}` : duration(stage.started_at, stage.ended_at)) : ""));
    });
    const reasons = names.map((name) => byName.get(name)).filter((stage) => stage && stage.reason)
      .map((stage) => h("p", { class: `stage-reason tone-${tone(stage.status)}`, "data-testid": "stage-reason",
        "data-stage": stage.name }, h("strong", {}, `${stage.name} ${stage.status}: `), stage.reason));
    return section("stages", "Stages", h("ol", { class: "timeline" }, items), reasons);
  }

  function qaChecks(checks) {
    if (!checks || !checks.length) return h("span", { class: "muted" }, "—");
    return h("ul", { class: "checks" }, checks.map((check) => h("li", {
      class: check.passed ? "check-ok" : "check-bad", "data-testid": "qa-check", "data-check": check.name,
      "data-passed": String(Boolean(check.passed)),
      title: check.passed ? `${check.name}: ${check.actual}` : null,
    }, check.passed ? "✓ " : "✗ ", check.name,
    check.passed ? null : h("span", { class: "check-detail" }, `: expected ${check.expected}, got ${check.actual}`))));
  }

  // "signed by <fingerprint>", or why the commit is not signed by a trusted key.
  function signatureCell(arch) {
    const signature = arch.signature || { status: "not-checked", text: "not checked" };
    const signedBy = signature.status === "signed" && signature.signed_by;
    return h("td", { class: `signature tone-${tone(signature.status)}`, "data-testid": "signature",
      "data-arch": arch.arch, "data-status": signature.status, title: signature.text },
    signedBy ? ["signed by ", mono(signature.signed_by, null, true)] : signature.text);
  }

  function archesSection(arches, releaseFailure) {
    if (!arches || !arches.length) return section("arches", "Architectures", h("p", { class: "muted" }, "None."));
    const rows = arches.flatMap((arch) => [
      h("tr", { "data-testid": "arch-row", "data-arch": arch.arch },
        h("th", { scope: "row" }, arch.arch),
        h("td", {}, path(arch.ref)),
        h("td", {}, mono((arch.checksum || "").slice(0, 12), arch.checksum)),
        signatureCell(arch),
        h("td", { "data-step": "builder" }, badge(arch.builder)),
        h("td", { "data-step": "image" }, badge(arch.image)),
        h("td", { "data-step": "qa" }, badge(arch.qa)),
        h("td", {}, arch.image_id ? mono(arch.image_id) : h("span", { class: "muted" }, "—")),
        h("td", {}, qaChecks(arch.qa_checks))),
      // The release's own failure sentence is shown above already.
      arch.failure && arch.failure !== releaseFailure ? h("tr", { class: "arch-failure" },
        h("td", { colspan: 9, class: "failure-cell", "data-testid": "arch-failure", "data-arch": arch.arch },
          arch.failure)) : null,
    ]);
    return section("arches", "Architectures",
      table({ class: "arches" }, ["Arch", "Ref", "Commit", "Signature", "Builder", "Image", "QA", "Image id",
        "QA checks"], rows));
  }

  function matrixSection(regions, arches) {
    const columns = [...new Set([...(arches || []),
      ...(regions || []).flatMap((region) => Object.keys(region.images || {}))])].sort();
    const rows = (regions || []).map((region) => h("tr", { "data-testid": "region-row", "data-region": region.region,
      "data-status": region.status },
    h("th", { scope: "row", class: "mono" }, region.region),
    h("td", { "data-col": "status" }, badge(region.status)),
    h("td", { "data-col": "stage" }, region.stage || h("span", { class: "muted" }, "—")),
    columns.map((arch) => {
      const cell = (region.images || {})[arch];
      if (!cell) {
        return h("td", { class: "cell empty", "data-testid": "cell", "data-region": region.region, "data-arch": arch },
          h("span", { class: "muted" }, "—"));
      }
      return h("td", { class: `cell tone-${tone(cell.state)}`, "data-testid": "cell", "data-region": region.region,
        "data-arch": arch, "data-state": cell.state, "data-public": String(Boolean(cell.public)) },
      h("div", { class: "mono", "data-testid": "cell-image" }, cell.image_id),
      h("div", { class: "cell-facts" }, badge(cell.state), " ",
        h("span", { class: cell.public ? "public-yes" : "public-no" }, `public ${cell.public ? "yes" : "no"}`)));
    }),
    h("td", { "data-col": "reason", class: region.reason ? "reason-bad" : "", "data-testid": "region-reason" },
      region.reason || "")));
    const content = rows.length
      ? table({ class: "matrix", "data-testid": "matrix" },
        ["Region", "Status", "Stage", ...columns.map((arch) => [arch, { class: "arch-col" }]), "Reason"], rows)
      : h("p", { class: "muted" }, "No regions.");
    return section("regions", `Regions × architectures (${(regions || []).length})`, content);
  }

  function marketplaceSection(changes) {
    if (!changes || !changes.length) {
      return section("marketplace", "Marketplace change sets", h("p", { class: "muted" }, "None."));
    }
    const rows = changes.map((change) => h("tr", { "data-testid": "change-set", "data-arch": change.arch },
      h("th", { scope: "row" }, change.arch),
      h("td", {}, mono(change.product_id)),
      h("td", {}, change.intent || ""),
      h("td", {}, badge(change.status)),
      h("td", { class: change.reason ? "reason-bad" : "" }, change.reason || ""),
      h("td", {}, change.change_set_id ? mono(change.change_set_id, change.change_set_name) : "—"),
      h("td", { class: "nowrap" }, change.sent_at ? `${dateTime(change.sent_at)}` : "—"),
      h("td", { class: "nowrap" }, change.ended_at ? duration(change.sent_at, change.ended_at) : "—")));
    return section("marketplace", "Marketplace change sets",
      table({ class: "changes" }, ["Arch", "Product", "Intent", "Status", "Reason", "Change set", "Sent (UTC)",
        "Took"], rows));
  }

  // The Step Functions console shows the run's graph; a state's input, output, error and cause
  // are in its details there. Only an https link of the API becomes a link.
  function consoleLink(run, text, testid) {
    const url = String(run.console_url || "");
    if (!url.startsWith("https://")) return null;
    return h("a", { href: url, target: "_blank", rel: "noopener noreferrer", "data-testid": testid,
      title: `${run.execution_arn} in the Step Functions console` }, text);
  }

  function failedRunLink(runs, executionArn) {
    const run = (runs || []).find((r) => r.execution_arn === executionArn && r.status !== "SUCCEEDED");
    return run ? [" ", consoleLink(run, "The failed state's input, error and cause in the Step Functions console",
      "failure-console")] : null;
  }

  function runsSection(runs) {
    if (!runs || !runs.length) return section("runs", "Runs", h("p", { class: "muted" }, "No run found."));
    const rows = runs.map((run) => h("tr", { "data-testid": "run", "data-kind": run.kind },
      h("td", {}, mono(run.name, run.execution_arn, true)),
      h("td", {}, run.kind),
      h("td", {}, badge(run.status)),
      h("td", { class: "nowrap" }, dateTime(run.started_at)),
      h("td", { class: "nowrap" }, run.stopped_at ? dateTime(run.stopped_at) : "—"),
      h("td", { class: "nowrap" }, run.stopped_at ? duration(run.started_at, run.stopped_at)
        : `for ${duration(run.started_at, null)}`),
      h("td", { class: "nowrap" }, consoleLink(run, "open", "run-console") || "—")));
    return section("runs", "Runs", table({ class: "runs" },
      ["Execution", "Kind", "Status", "Started (UTC)", "Stopped (UTC)", "Took", "Step Functions console"], rows));
  }

  function showRelease(view, releaseId) {
    const generation = screen.generation;
    document.title = `${releaseId} — atomic-release`;
    const back = h("a", { href: "#/", class: "back", "data-testid": "back" }, "← All releases");
    const content = h("div", { class: "release", "data-testid": "release" },
      h("p", { class: "muted" }, `Loading ${releaseId}…`));
    view.replaceChildren(back, content);
    let lastStatus = null;

    async function load() {
      try {
        const data = await api(`releases/${encodeURIComponent(releaseId)}`);
        if (generation !== screen.generation) return;
        lastStatus = data.execution_status;
        document.title = `${data.release.stream} ${data.release.version} — atomic-release`;
        showError("");
        content.replaceChildren(
          releaseHeader(data),
          stagesSection(data.stages),
          archesSection(data.arches, data.release.failure),
          matrixSection(data.regions, data.release.arches),
          marketplaceSection(data.marketplace),
          runsSection(data.runs));
      } catch (failure) {
        if (generation !== screen.generation) return;
        showError(failure.message);
        if (lastStatus === null) {
          content.replaceChildren(h("p", { class: "muted", "data-testid": "release-unavailable" },
            `Release ${releaseId} could not be shown.`));
        }
      }
      // While the run goes on, follow it (and after a failed read of a running release, try again).
      if (lastStatus === "RUNNING") later(generation, load, RELEASE_REFRESH_MS);
    }

    load();
  }

  window.addEventListener("hashchange", route);
  route();
})();
