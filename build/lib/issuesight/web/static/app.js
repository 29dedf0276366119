/* IssueSight pages: small progressive enhancements. Everything works without this file:
   the copy button only appears when it can work, and a progress page has a plain link. */
(function () {
  "use strict";

  // -- "Copy first comment" -------------------------------------------------------------
  function setUpCopy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = target.textContent;
      var done = function (message) { if (status) status.textContent = message; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { done("Copied to the clipboard."); },
          function () { selectText(target); done("Selected: press Ctrl+C (or Cmd+C) to copy."); }
        );
      } else {
        selectText(target);
        done("Selected: press Ctrl+C (or Cmd+C) to copy.");
      }
    });
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // -- following a tutorial being written ---------------------------------------------------
  var STAGES = ["queued", "fetching_context", "generating", "saving", "done"];
  var LABELS = {
    queued: "queued",
    fetching_context: "reading the issue and the repository",
    generating: "writing the context bridge",
    saving: "checking files and saving",
    done: "done",
    failed: "failed"
  };

  function watch(element) {
    var id = element.getAttribute("data-watch");
    var mode = element.getAttribute("data-watch-mode");
    var url = "/api/v1/tutorials/" + encodeURIComponent(id);
    var etag = null;
    var started = Date.now();
    var lastStage = null;

    function schedule() {
      var elapsed = Date.now() - started;
      if (elapsed > 60 * 60 * 1000) return; // an hour: the plain link is still there
      window.setTimeout(poll, elapsed < 120000 ? 1000 : 5000);
    }

    function poll() {
      if (document.hidden) { schedule(); return; }
      var headers = etag ? { "If-None-Match": etag } : {};
      fetch(url, { headers: headers, cache: "no-cache" }).then(function (response) {
        if (response.status === 304) return null;
        if (!response.ok) throw new Error("status " + response.status);
        etag = response.headers.get("ETag");
        return response.json();
      }).then(function (body) {
        if (body) show(body);
        if (!finished(body)) schedule();
      }).catch(function () { schedule(); });
    }

    function finished(body) {
      return body && (body.stage === "done" || body.stage === "failed");
    }

    function show(body) {
      if (body.stage === lastStage) return;
      lastStage = body.stage;
      if (mode === "progress") {
        if (finished(body)) { window.location.reload(); return; }
        var heading = document.querySelector("h1[data-issue-title-pending]");
        if (heading && body.issue_title) {
          heading.textContent = body.issue_title;
          heading.removeAttribute("data-issue-title-pending");
        }
        var current = STAGES.indexOf(body.stage);
        element.querySelectorAll("[data-stage]").forEach(function (item, index) {
          item.classList.toggle("stage-done", index < current);
          item.classList.toggle("stage-current", index === current);
          item.classList.toggle("stage-todo", index > current);
          if (index === current) item.setAttribute("aria-current", "step");
          else item.removeAttribute("aria-current");
          var state = item.querySelector("[data-stage-state]");
          if (state) state.textContent = index < current ? ": done" : (index === current ? ": in progress" : "");
        });
        var status = element.querySelector("[data-progress-status]");
        if (status) status.textContent = "Now: " + (LABELS[body.stage] || body.stage) + ".";
      } else {
        var text = element.querySelector("[data-stage-text]");
        if (finished(body)) {
          var paragraph = element.querySelector("p");
          paragraph.textContent = body.stage === "done"
            ? "A fresh version is ready. "
            : "Writing a fresh version failed. ";
          var link = document.createElement("a");
          link.href = "/tutorials/" + encodeURIComponent(id);
          link.textContent = body.stage === "done" ? "Show the fresh version" : "Show why";
          paragraph.appendChild(link);
        } else if (text) {
          text.textContent = LABELS[body.stage] || body.stage;
        }
      }
    }

    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(setUpCopy);
    document.querySelectorAll("[data-watch]").forEach(watch);
  });
})();
