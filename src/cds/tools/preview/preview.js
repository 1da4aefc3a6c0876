// Card preview: picks a fixture (or takes a pasted request), sends it to the real service
// endpoint and renders the cards as an EHR would. Vanilla JS, no build step, no CDN.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const md = window.CardMarkdown;
  let fixtures = [];
  let currentFixture = null;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function setStatus(text, state) {
    const status = $("status");
    status.textContent = text;
    status.dataset.state = state;
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(describeError(response.status, body));
    return body;
  }

  function describeError(status, body) {
    if (body && body.resourceType === "OperationOutcome" && body.issue && body.issue.length) {
      return "HTTP " + status + ": " + (body.issue[0].diagnostics || body.issue[0].code);
    }
    return "HTTP " + status;
  }

  // ---- fixture list
  function renderFixtureList() {
    const filter = $("fixture-filter").value.trim().toLowerCase();
    const list = $("fixture-list");
    list.replaceChildren();
    const shown = fixtures.filter((f) => {
      const haystack = (f.name + " " + f.description + " " + f.intentTopics.join(" ")).toLowerCase();
      return !filter || haystack.includes(filter);
    });
    for (const fixture of shown) {
      const topics = fixture.intentTopics.length ? fixture.intentTopics.join(", ") : "no cards expected";
      const button = el("button", { type: "button", "data-fixture": fixture.name, title: fixture.description }, [
        el("span", { className: "fixture-name", text: fixture.name }),
        el("span", { className: "fixture-topics", text: topics }),
      ]);
      if (currentFixture && currentFixture.name === fixture.name) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => chooseFixture(fixture.name));
      list.appendChild(el("li", {}, [button]));
    }
    $("fixture-empty").hidden = fixtures.length > 0;
  }

  async function chooseFixture(name) {
    setStatus("Loading " + name + "…", "loading");
    try {
      const loaded = await getJson("/preview/fixtures/" + encodeURIComponent(name));
      currentFixture = fixtures.find((f) => f.name === name) || { name, expected: null };
      $("request-text").value = JSON.stringify(loaded.request, null, 2);
      $("fixture-description").textContent = loaded.description;
      selectService(loaded.service);
      renderFixtureList();
      history.replaceState(null, "", "#" + encodeURIComponent(name));
      await send();
    } catch (error) {
      setStatus(String(error.message || error), "error");
    }
  }

  function selectService(id) {
    const select = $("service-select");
    if (![...select.options].some((o) => o.value === id)) select.appendChild(el("option", { value: id, text: id }));
    select.value = id;
  }

  // ---- patient banner
  function ageOn(birthDate, today) {
    const birth = new Date(birthDate + "T00:00:00Z");
    if (Number.isNaN(birth.getTime())) return null;
    let age = today.getUTCFullYear() - birth.getUTCFullYear();
    const beforeBirthday =
      today.getUTCMonth() < birth.getUTCMonth() ||
      (today.getUTCMonth() === birth.getUTCMonth() && today.getUTCDate() < birth.getUTCDate());
    return beforeBirthday ? age - 1 : age;
  }

  function renderPatient(request) {
    const banner = $("patient-banner");
    banner.replaceChildren();
    const patient = request && request.prefetch && request.prefetch.patient;
    if (!patient || patient.resourceType !== "Patient") {
      banner.appendChild(el("span", { className: "muted", text: "Patient: " + ((request && request.context &&
        request.context.patientId) || "unknown") }));
      return;
    }
    const name = (patient.name && patient.name[0]) || {};
    const display = [(name.given || []).join(" "), name.family].filter(Boolean).join(" ") || patient.id;
    const age = patient.birthDate ? ageOn(patient.birthDate, new Date()) : null;
    banner.appendChild(el("span", { className: "patient-name", text: display }));
    banner.appendChild(el("span", { text: (patient.gender || "gender unknown") + (age !== null ? ", " + age + " y" : "") }));
    if (patient.birthDate) banner.appendChild(el("span", { className: "muted", text: "born " + patient.birthDate }));
    banner.appendChild(el("span", { className: "muted", text: "id " + patient.id }));
  }

  // ---- cards
  function suggestionResources(suggestion) {
    return (suggestion.actions || []).map((action) => ({
      type: action.type,
      description: action.description,
      resource: action.resource || action.resourceId,
    }));
  }

  function renderCard(card) {
    const indicator = ["critical", "warning", "info"].includes(card.indicator) ? card.indicator : "info";
    const topic = (card.source && card.source.topic) || {};
    const article = el("article", {
      className: "card card-" + indicator,
      "data-indicator": card.indicator,
      "data-topic": topic.code || "",
    });
    article.appendChild(el("header", { className: "card-header" }, [
      el("span", { className: "indicator indicator-" + indicator, text: card.indicator }),
      el("h2", { className: "card-summary", text: card.summary || "" }),
    ]));
    const source = card.source || {};
    const sourceLine = el("div", { className: "card-source" });
    sourceLine.appendChild(document.createTextNode("Source: "));
    const sourceUrl = source.url && md.safeUrl(source.url);
    sourceLine.appendChild(sourceUrl
      ? el("a", { href: sourceUrl, target: "_blank", rel: "noopener noreferrer", text: source.label || sourceUrl })
      : el("span", { text: source.label || "unknown" }));
    if (topic.display || topic.code) sourceLine.appendChild(document.createTextNode(" · " + (topic.display || topic.code)));
    article.appendChild(sourceLine);
    if (card.detail) {
      const detail = el("div", { className: "card-detail" });
      detail.innerHTML = md.renderMarkdown(card.detail); // escaped by the renderer
      article.appendChild(detail);
    }
    const suggestions = card.suggestions || [];
    if (suggestions.length) {
      const box = el("div", { className: "card-suggestions" });
      const shown = el("pre", { className: "suggestion-resource", hidden: "" });
      for (const suggestion of suggestions) {
        const button = el("button", {
          type: "button",
          className: "suggestion" + (suggestion.isRecommended ? " recommended" : ""),
          "aria-pressed": "false",
          text: suggestion.label,
        });
        button.addEventListener("click", () => {
          const pressed = button.getAttribute("aria-pressed") === "true";
          box.querySelectorAll(".suggestion").forEach((b) => b.setAttribute("aria-pressed", "false"));
          if (pressed) {
            shown.hidden = true;
            return;
          }
          button.setAttribute("aria-pressed", "true");
          shown.textContent = JSON.stringify(suggestionResources(suggestion), null, 2);
          shown.hidden = false;
        });
        box.appendChild(button);
      }
      article.appendChild(box);
      article.appendChild(shown);
    }
    const links = (card.links || []).filter((link) => md.safeUrl(link.url));
    if (links.length) {
      const list = el("ul", { className: "card-links" });
      for (const link of links) {
        list.appendChild(el("li", {}, [el("a", {
          href: md.safeUrl(link.url), target: "_blank", rel: "noopener noreferrer",
          "data-link-type": link.type || "absolute", text: link.label || link.url,
        })]));
      }
      article.appendChild(list);
    }
    return article;
  }

  function renderCards(cards) {
    const box = $("cards");
    box.replaceChildren();
    if (!cards.length) {
      box.appendChild(el("div", { className: "empty-cards", text: "No cards: the service has nothing to say." }));
      return;
    }
    for (const card of cards) box.appendChild(renderCard(card));
  }

  function compareWithGolden(cards) {
    const status = $("golden-status");
    status.className = "golden-status";
    status.textContent = "";
    if (!currentFixture || !currentFixture.expected) return;
    const got = cards.map((c) => ((c.source && c.source.topic && c.source.topic.code) || "?") + ":" + c.indicator);
    const want = currentFixture.expected.map((c) => c.topic + ":" + c.indicator);
    const same = got.length === want.length && got.every((v, k) => v === want[k]);
    status.classList.add(same ? "match" : "differ");
    status.textContent = same ? "Matches the golden cards" : "Differs from golden: expected " +
      (want.join(", ") || "no cards") + "; got " + (got.join(", ") || "no cards");
  }

  // ---- sending
  async function send() {
    const service = $("service-select").value;
    let body;
    try {
      body = JSON.parse($("request-text").value);
    } catch (error) {
      setStatus("The request is not valid JSON: " + error.message, "error");
      return;
    }
    renderPatient(body);
    setStatus("Calling " + service + "…", "loading");
    const started = performance.now();
    try {
      const response = await fetch("/cds-services/" + encodeURIComponent(service), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const result = await response.json().catch(() => null);
      const elapsed = Math.round(performance.now() - started);
      if (!response.ok || !result || !Array.isArray(result.cards)) {
        $("cards").replaceChildren();
        setStatus(describeError(response.status, result), "error");
        return;
      }
      renderCards(result.cards);
      compareWithGolden(result.cards);
      const count = result.cards.length;
      setStatus(count + (count === 1 ? " card" : " cards") + " in " + elapsed + " ms", "done");
    } catch (error) {
      setStatus("Request failed: " + error.message, "error");
    }
  }

  async function loadServices() {
    try {
      const discovery = await getJson("/cds-services");
      for (const service of discovery.services || []) selectService(service.id);
    } catch (error) {
      // Discovery may need a token in production modes; a fixture still names its service.
    }
  }

  async function start() {
    $("send-button").addEventListener("click", () => {
      currentFixture = null;
      $("golden-status").textContent = "";
      send();
    });
    $("fixture-filter").addEventListener("input", renderFixtureList);
    await loadServices();
    try {
      fixtures = (await getJson("/preview/fixtures")).fixtures || [];
    } catch (error) {
      setStatus("Fixtures unavailable: " + error.message, "error");
    }
    renderFixtureList();
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted && fixtures.some((f) => f.name === wanted)) await chooseFixture(wanted);
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
