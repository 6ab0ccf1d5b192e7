// The tree browser's enhancements. Every page works without this script (real links,
// server-side paging); with it:
// - the triangle before a child expands its children in place (and collapses them);
// - "Load N more" appends the next page of children instead of opening it;
// - a URL ending in #expand=/some/path expands the nodes down to that path on load,
//   loading more children where a node on the way is not on the first page;
// - the delete form asks for a confirmation.
// Fragments come from the server as escaped HTML (?part=children) and are parsed with
// DOMParser, which runs no script; the Content-Security-Policy forbids inline script anyway.
"use strict";

(function () {
  function showToggles(root) {
    root.querySelectorAll("button.toggle[hidden]").forEach(function (b) {
      b.hidden = false;
    });
  }

  // Fetches a fragment URL and returns its <ul class="tree">.
  function fetchList(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.text().then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var list = doc.querySelector("ul.tree");
        if (!response.ok || !list) {
          var message = doc.body ? doc.body.textContent.trim() : "";
          throw new Error(message || "HTTP " + response.status);
        }
        return document.adoptNode(list);
      });
    });
  }

  function showError(item, error) {
    var old = item.querySelector(":scope > .error");
    if (old) old.remove();
    var span = document.createElement("span");
    span.className = "error";
    span.textContent = " " + error.message;
    item.appendChild(span);
  }

  // Expands (or collapses) the children of a list item; resolves once done.
  function toggle(button) {
    var item = button.closest("li.node");
    var open = item.querySelector(":scope > ul.tree");
    if (open) {
      open.remove();
      button.setAttribute("aria-expanded", "false");
      return Promise.resolve();
    }
    if (button.getAttribute("aria-busy") === "true") return Promise.resolve();
    button.setAttribute("aria-busy", "true");
    return fetchList(button.dataset.fragment)
      .then(function (list) {
        item.appendChild(list);
        showToggles(list);
        button.setAttribute("aria-expanded", "true");
      })
      .catch(function (error) {
        showError(item, error);
      })
      .finally(function () {
        button.removeAttribute("aria-busy");
      });
  }

  // Replaces a "Load more" item with the next page of children.
  function loadMore(link) {
    var item = link.closest("li.more");
    if (link.getAttribute("aria-busy") === "true") return Promise.resolve();
    link.setAttribute("aria-busy", "true");
    return fetchList(link.dataset.fragment)
      .then(function (list) {
        showToggles(list);
        var parent = item.parentNode;
        while (list.firstChild) parent.insertBefore(list.firstChild, item);
        item.remove();
        // The page's own pager counted the first page only.
        var pager = parent.parentNode.querySelector(":scope > nav.pager");
        if (pager) pager.hidden = true;
      })
      .catch(function (error) {
        link.removeAttribute("aria-busy");
        showError(item, error);
      });
  }

  document.addEventListener("click", function (event) {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var button = event.target.closest("button.toggle");
    if (button) {
      event.preventDefault();
      toggle(button);
      return;
    }
    var more = event.target.closest("a.more[data-fragment]");
    if (more) {
      event.preventDefault();
      loadMore(more);
    }
  });

  // The list item of `path`; when it is not listed yet but its parent's list has a "Load
  // more" link, loads more (up to `loadsLeft` times) until it shows.
  function reveal(path, loadsLeft) {
    var item = document.querySelector('li.node[data-path="' + CSS.escape(path) + '"]');
    if (item) return Promise.resolve(item);
    var parent = path.slice(0, path.lastIndexOf("/")) || "/";
    var list = document.querySelector('ul.tree[data-path="' + CSS.escape(parent) + '"]');
    var more = list && list.querySelector(":scope > li.more > a.more[data-fragment]");
    if (!more || loadsLeft <= 0) return Promise.resolve(null);
    return loadMore(more).then(function () {
      return reveal(path, loadsLeft - 1);
    });
  }

  // #expand=/a/b/c: expands /a, then /a/b, then /a/b/c below this page's node (loading more
  // children where one is not on the first page), and marks the last one reached.
  function expandFromHash() {
    var match = /^#expand=(.+)$/.exec(location.hash);
    var top = document.querySelector("main ul.tree");
    if (!match || !top) return;
    var target;
    try {
      target = decodeURIComponent(match[1]);
    } catch (e) {
      return;
    }
    var base = top.dataset.path === "/" ? "" : top.dataset.path;
    if (target.indexOf(base + "/") !== 0) return;
    var names = target.slice(base.length + 1).split("/");
    var path = base;
    var step = Promise.resolve(true);
    names.forEach(function (name) {
      step = step.then(function (going) {
        if (!going) return false;
        path += "/" + name;
        return reveal(path, 20).then(function (item) {
          if (!item) return false;
          document.querySelectorAll("li.node.target").forEach(function (t) {
            t.classList.remove("target");
          });
          item.classList.add("target");
          var button = item.querySelector(":scope > button.toggle");
          if (button && button.getAttribute("aria-expanded") !== "true") {
            return toggle(button).then(function () {
              return true;
            });
          }
          return true;
        });
      });
    });
    step.then(function () {
      var reached = document.querySelector("li.node.target");
      if (reached) reached.scrollIntoView({ block: "nearest" });
    });
  }

  // Deleting asks first (without the script the button deletes at once).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form.write.delete");
    if (!form) return;
    var path = form.querySelector("input[name=path]").value;
    if (!window.confirm("Delete " + path + "?")) event.preventDefault();
  });

  showToggles(document);
  document.documentElement.classList.add("js");
  expandFromHash();
  window.addEventListener("hashchange", expandFromHash);
})();
