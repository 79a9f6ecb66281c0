// Fills the bird list from /data/birds.json and records, for the browser test,
// whether the hero image loaded (data-image on <body>) and which protocol
// brought the page and the list (data-protocol, data-json-protocol: "h2",
// "http/1.1"), as the browser's Resource Timing reports it.
"use strict";

async function loadBirds() {
  const status = document.getElementById("status");
  const list = document.getElementById("birds");
  try {
    const response = await fetch("/data/birds.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const birds = await response.json();
    for (const bird of birds) {
      const item = document.createElement("li");
      item.textContent = `${bird.name} `;
      const latin = document.createElement("span");
      latin.className = "latin";
      latin.textContent = bird.latin;
      item.appendChild(latin);
      list.appendChild(item);
    }
    status.textContent = `Loaded ${birds.length} birds.`;
    status.dataset.state = "loaded";
    const json = performance.getEntriesByName(response.url)[0];
    if (json) document.body.dataset.jsonProtocol = json.nextHopProtocol;
  } catch (err) {
    status.textContent = `Could not load the list: ${err.message}`;
    status.dataset.state = "failed";
  }
}

function checkImage() {
  const img = document.getElementById("hero");
  const report = () => {
    document.body.dataset.image = img.complete && img.naturalWidth > 0 ? "loaded" : "broken";
  };
  if (img.complete) report();
  else {
    img.addEventListener("load", report);
    img.addEventListener("error", report);
  }
}

function recordProtocol() {
  const page = performance.getEntriesByType("navigation")[0];
  if (page) document.body.dataset.protocol = page.nextHopProtocol;
}

recordProtocol();
checkImage();
loadBirds();
