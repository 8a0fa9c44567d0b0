/*
 * Relaydesk: the inbox (app/views/inbox.py). Every text goes into the page as text
 * (textContent), never as HTML. The list and the thread are drawn by functions fed with the
 * JSON of the endpoints, so a push channel can call them with what it receives:
 *
 *   RelaydeskInbox.refreshList(json)     the JSON of GET /inbox/api/conversations
 *   RelaydeskInbox.loadList()            fetch it with the current filters, then refreshList
 *   RelaydeskInbox.appendItems(json)     the JSON of GET /inbox/api/conversations/<id>/messages
 *   RelaydeskInbox.loadNewer()           fetch ?after=<newest shown>, then appendItems
 *   RelaydeskInbox.applyState(json)      the JSON of GET /inbox/api/conversations/<id>
 */
(function () {
    "use strict";

    var inbox = window.RelaydeskInbox = {};

    function el(id) { return document.getElementById(id); }

    function typing(event) {
        var t = event.target;
        return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT"
                     || t.isContentEditable);
    }

    function when(iso) {
        var d = new Date(iso + (iso.indexOf("Z") < 0 && iso.indexOf("+") < 0 ? "Z" : ""));
        return isNaN(d.getTime()) ? iso : d.toLocaleString();
    }

    function showHelp() {
        if (window.jQuery && window.jQuery.fn.modal) { window.jQuery("#inbox-help").modal("show"); }
    }

    function getJSON(url) {
        return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
            .then(function (r) {
                return r.json().catch(function () { return {}; }).then(function (body) {
                    if (!r.ok) { throw body; }
                    return body;
                });
            });
    }

    // --- the list ---------------------------------------------------------------------------
    var list = el("inbox");
    var selected = -1;
    var filters = {view: "all"};
    var nextCursor = null;

    function listQuery(before) {
        var params = new URLSearchParams();
        Object.keys(filters).forEach(function (k) { if (filters[k]) { params.set(k, filters[k]); } });
        if (before) { params.set("before", before); }
        return list.dataset.api + "?" + params.toString();
    }

    function rowFor(item) {
        var node = el("inbox-row").content.firstElementChild.cloneNode(true);
        node.href = list.dataset.open + item.id;
        node.dataset.id = item.id;
        node.querySelector(".inbox-contact").textContent = item.contact;
        node.querySelector(".inbox-channel").textContent = item.channel.name;
        node.querySelector(".inbox-status").textContent = item.status_label;
        node.querySelector(".inbox-status").dataset.status = item.status;
        var unread = node.querySelector(".inbox-unread");
        unread.textContent = item.unread_count ? String(item.unread_count) : "";
        unread.classList.toggle("hidden", !item.unread_count);
        node.querySelector(".inbox-mention").classList.toggle("hidden", !item.mentions);
        var paused = node.querySelector(".inbox-paused");
        paused.textContent = list.dataset.paused;
        paused.classList.toggle("hidden", !item.bot_paused);
        node.querySelector(".inbox-assignee").textContent = item.assignee || list.dataset.unassigned;
        node.querySelector(".inbox-preview").textContent = item.preview || "";
        node.querySelector(".inbox-when").textContent = when(item.last_activity_at);
        return node;
    }

    inbox.refreshList = function (json, append) {
        var box = el("inbox-list");
        if (!append) { box.textContent = ""; selected = -1; }
        (json.items || []).forEach(function (item) {
            var old = box.querySelector('[data-id="' + item.id + '"]');
            if (old) { old.remove(); }
            box.appendChild(rowFor(item));
        });
        if (!box.children.length) {
            var empty = document.createElement("p");
            empty.className = "text-muted inbox-empty";
            empty.textContent = list.dataset.empty;
            box.appendChild(empty);
        }
        nextCursor = json.next || null;
        el("inbox-more").classList.toggle("hidden", !nextCursor);
        if (typeof json.mentions === "number") { el("inbox-mention-count").textContent = json.mentions; }
        if (selected < 0 && box.querySelector(".inbox-row")) { select(0); }
    };

    inbox.loadList = function (append) {
        el("inbox-error").classList.add("hidden");
        return getJSON(listQuery(append ? nextCursor : null))
            .then(function (json) { inbox.refreshList(json, append); })
            .catch(function (body) {
                var box = el("inbox-error");
                box.textContent = (body && body.message) || list.dataset.error;
                box.classList.remove("hidden");
            });
    };

    function rows() { return el("inbox-list").querySelectorAll(".inbox-row"); }

    function select(index) {
        var all = rows();
        if (!all.length) { return; }
        index = Math.max(0, Math.min(all.length - 1, index));
        all.forEach(function (r) { r.classList.remove("active"); r.removeAttribute("aria-current"); });
        all[index].classList.add("active");
        all[index].setAttribute("aria-current", "true");
        selected = index;
    }

    function selectedId() {
        var all = rows();
        return selected >= 0 && all[selected] ? all[selected].dataset.id : null;
    }

    function readFilters() {
        filters.status = el("inbox-status").value;
        filters.channel = el("inbox-channel").value;
        filters.tag = el("inbox-tag").value.trim();
        filters.q = el("inbox-search").value.trim();
    }

    function post(url, body) {
        var csrf = (el("inbox-conversation") || el("inbox") || {}).dataset;
        return fetch(url, {
            method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "Accept": "application/json",
                      "X-CSRFToken": (csrf && csrf.csrf) || (el("inbox-csrf") || {}).value || ""},
            body: JSON.stringify(body || {})
        }).then(function (r) {
            return r.json().catch(function () { return {}; }).then(function (json) {
                if (!r.ok) { throw json; }
                return json;
            });
        });
    }

    function initList() {
        document.querySelectorAll("#inbox-views a").forEach(function (a) {
            a.addEventListener("click", function (event) {
                event.preventDefault();
                document.querySelectorAll("#inbox-views li").forEach(function (li) { li.classList.remove("active"); });
                a.parentElement.classList.add("active");
                filters.view = a.dataset.view;
                inbox.loadList();
            });
        });
        el("inbox-filters").addEventListener("submit", function (event) {
            event.preventDefault();
            readFilters();
            inbox.loadList();
        });
        ["inbox-status", "inbox-channel"].forEach(function (id) {
            el(id).addEventListener("change", function () { readFilters(); inbox.loadList(); });
        });
        el("inbox-more").addEventListener("click", function () { inbox.loadList(true); });
        document.addEventListener("keydown", function (event) {
            if (event.ctrlKey || event.metaKey || event.altKey) { return; }
            if (typing(event)) {
                if (event.key === "Escape") { event.target.blur(); }
                return;
            }
            var id = selectedId();
            var apiBase = list.dataset.api + "/";
            if (event.key === "j") { select(selected + 1); event.preventDefault(); }
            else if (event.key === "k") { select(selected - 1); event.preventDefault(); }
            else if (event.key === "Enter" && id) { window.location.href = list.dataset.open + id; }
            else if (event.key === "/") { event.preventDefault(); el("inbox-search").focus(); }
            else if (event.key === "?") { showHelp(); }
            else if (event.key === "e" && id) {
                post(apiBase + id + "/status", {status: "resolved"}).then(function () { inbox.loadList(); });
            } else if (event.key === "a" && id) {
                post(apiBase + id + "/assign", {assignee_id: Number(list.dataset.me)})
                    .then(function () { inbox.loadList(); });
            } else if (event.key === "r" && id) {
                window.location.href = list.dataset.open + id + "#reply";
            }
        });
        inbox.loadList();
    }

    // --- a conversation ---------------------------------------------------------------------
    var page = el("inbox-conversation");
    var newest = null;   // the cursor of the newest item shown
    var oldest = null;   // the `older` cursor of the thread
    var mode = "reply";
    var suggestionIndex = -1;
    var members = [];

    function itemNode(item) {
        var node = el("thread-item").content.firstElementChild.cloneNode(true);
        node.dataset.kind = item.kind;
        node.dataset.cursor = item.cursor;
        node.id = "item-" + item.kind + "-" + item.id;
        node.classList.add("inbox-item-" + item.kind);
        var meta = [when(item.at)];
        if (item.kind === "in") { meta.unshift(item.sender_name || ""); }
        if (item.kind === "out") { meta.unshift(item.purpose_label || ""); }
        if (item.kind === "team_note") { meta.unshift(page.dataset.noteLabel + " · " + (item.author || "")); }
        if (item.kind === "note") { meta.unshift(page.dataset.dispatchLabel); }
        node.querySelector(".inbox-item-meta").textContent = meta.filter(Boolean).join(" · ");
        node.querySelector(".inbox-item-text").textContent = item.text || "";
        (item.media || []).forEach(function (m) {
            node.insertBefore(mediaNode(m), node.querySelector(".inbox-item-status"));
        });
        var status = node.querySelector(".inbox-item-status");
        if (item.delivery) {
            status.textContent = item.delivery.label;
            status.dataset.status = item.delivery.code;
            status.classList.add("inbox-delivery-" + item.delivery.code);
        }
        return node;
    }

    // one attachment (app/views/inbox.py `_with_media`): built with DOM calls, never HTML
    function mediaNode(m) {
        var box = document.createElement("div");
        box.className = "media-item media-" + m.kind;
        box.dataset.mediaId = m.id;
        box.dataset.mediaState = m.state;
        function line(text) {
            var p = document.createElement("p");
            p.textContent = text;
            box.appendChild(p);
            return p;
        }
        function link(text, cls) {
            var a = document.createElement("a");
            a.href = m.url;
            a.className = cls;
            a.textContent = text;
            return a;
        }
        if (m.kind === "location") {
            line(page.dataset.mediaLocation + ": " + Number(m.latitude).toFixed(6) + ", " +
                 Number(m.longitude).toFixed(6) + [m.place_name, m.address].filter(Boolean)
                     .map(function (t) { return " · " + t; }).join("")).className = "media-location";
        } else if (m.kind === "contact") {
            line(page.dataset.mediaContact + ": " + (m.contact_name || "") +
                 (m.contact_phone ? " · +" + m.contact_phone : "")).className = "media-contact";
        } else if (!m.url) {
            line(m.kind_label + (m.file_name ? " " + m.file_name : "") + ": " + m.state_label)
                .className = "media-unavailable text-muted";
        } else if (m.thumb) {
            var a = link("", "media-image-link");
            a.target = "_blank";
            a.rel = "noopener";
            var img = document.createElement("img");
            img.src = m.thumb;
            img.alt = m.file_name || page.dataset.mediaImage;
            img.className = "media-image img-thumbnail";
            img.loading = "lazy";
            a.appendChild(img);
            box.appendChild(a);
        } else if (/^(audio|video)\//.test(m.mime_type || "")) {
            var player = document.createElement(m.mime_type.indexOf("audio/") === 0 ? "audio" : "video");
            player.controls = true;
            player.preload = "none";
            player.src = m.url;
            player.className = "media-" + player.tagName.toLowerCase();
            box.appendChild(player);
            box.appendChild(link(page.dataset.mediaDownload, "media-download"));
        } else {
            var p = line("");
            p.className = "media-document";
            var doc = link(m.file_name || page.dataset.mediaDocument, "media-download");
            doc.setAttribute("download", "");
            p.appendChild(doc);
            if (m.size_label) { p.appendChild(document.createTextNode(" (" + m.size_label + ")")); }
        }
        return box;
    }

    inbox.appendItems = function (json) {
        var box = el("thread");
        (json.items || []).forEach(function (item) {
            var id = "item-" + item.kind + "-" + item.id;
            var old = document.getElementById(id);
            if (old) { old.replaceWith(itemNode(item)); } else { box.appendChild(itemNode(item)); }
            newest = item.cursor;
        });
        if (json.items && json.items.length) { box.lastElementChild.scrollIntoView({block: "end"}); }
    };

    function prependItems(json) {
        var box = el("thread");
        var first = box.firstElementChild;
        (json.items || []).forEach(function (item) { box.insertBefore(itemNode(item), first); });
        oldest = json.older || null;
        el("thread-older").classList.toggle("hidden", !oldest);
    }

    inbox.loadNewer = function () {
        var url = page.dataset.api + "/messages" + (newest ? "?after=" + encodeURIComponent(newest) : "");
        return getJSON(url).then(function (json) {
            inbox.appendItems(json);
            if (json.more_after) { return inbox.loadNewer(); }
            return null;
        });
    };

    inbox.applyState = function (json) {
        var c = json.conversation;
        el("inbox-status-label").textContent = c.status_label;
        el("conversation-status").value = c.status;
        el("conversation-assignee").value = c.assignee_id === null ? "" : String(c.assignee_id);
        el("inbox-paused-label").classList.toggle("hidden", !c.bot_paused);
        el("takeover").classList.toggle("hidden", c.bot_paused);
        el("giveback").classList.toggle("hidden", !c.bot_paused);
        var win = el("inbox-window");
        var closed = json.window && !json.window.open;
        win.textContent = closed ? json.window.message : "";
        win.classList.toggle("hidden", !closed);
    };

    function showError(id, body) {
        var box = el(id);
        box.textContent = (body && body.message) || page.dataset.failed;
        box.classList.remove("hidden");
    }

    function act(path, body) {
        el("handling-error").classList.add("hidden");
        return post(page.dataset.api + "/" + path, body).then(inbox.applyState)
            .catch(function (b) { showError("handling-error", b); });
    }

    function newClientId() {
        var bytes = new Uint8Array(12);
        window.crypto.getRandomValues(bytes);
        return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }

    var pendingId = null;  // the id of the reply being sent: a second click repeats it

    function send() {
        var text = el("composer-text").value;
        var error = el("composer-error");
        error.classList.add("hidden");
        var button = el("composer-send");
        var request;
        if (mode === "note") {
            request = post(page.dataset.api + "/note", {text: text});
        } else {
            pendingId = pendingId || newClientId();
            request = post(page.dataset.api + "/reply", {text: text, client_id: pendingId});
        }
        button.disabled = true;
        return request.then(function (json) {
            pendingId = null;
            el("composer-text").value = "";
            inbox.applyState(json);
            return inbox.loadNewer();
        }).catch(function (b) {
            showError("composer-error", b);
            if (b && b.message) { pendingId = null; }  // refused: a new attempt is a new message
        }).then(function () { button.disabled = false; });
    }

    function setMode(next) {
        mode = next;
        el("mode-reply").className = "btn " + (mode === "reply" ? "btn-primary" : "btn-default");
        el("mode-note").className = "btn " + (mode === "note" ? "btn-warning" : "btn-default");
        el("composer").classList.toggle("inbox-composer-note", mode === "note");
        var hint = el("composer-hint");
        hint.textContent = mode === "note" ? hint.dataset.note : hint.dataset.reply;
        hideSuggestions();
        el("composer-text").focus();
    }

    function hideSuggestions() {
        var box = el("composer-suggestions");
        box.classList.add("hidden");
        box.textContent = "";
        suggestionIndex = -1;
    }

    function showSuggestions(entries) {
        var box = el("composer-suggestions");
        box.textContent = "";
        entries.forEach(function (entry, i) {
            var li = document.createElement("li");
            li.className = "list-group-item inbox-suggestion";
            li.setAttribute("role", "option");
            li.dataset.index = i;
            li.dataset.value = entry.value;
            li.dataset.kind = entry.kind;
            li.textContent = entry.label;
            li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
            box.appendChild(li);
        });
        box.classList.toggle("hidden", !entries.length);
        suggestionIndex = entries.length ? 0 : -1;
        highlight();
    }

    function highlight() {
        el("composer-suggestions").querySelectorAll("li").forEach(function (li, i) {
            li.classList.toggle("active", i === suggestionIndex);
            li.setAttribute("aria-selected", i === suggestionIndex ? "true" : "false");
        });
    }

    function choose(index) {
        var li = el("composer-suggestions").querySelectorAll("li")[index];
        if (!li) { return; }
        var area = el("composer-text");
        if (li.dataset.kind === "quick") {
            getJSON(page.dataset.api + "/quick_reply?shortcut=" + encodeURIComponent(li.dataset.value))
                .then(function (json) { area.value = json.text; area.focus(); })
                .catch(function (b) { showError("composer-error", b); });
        } else {
            var upto = area.value.slice(0, area.selectionStart);
            var rest = area.value.slice(area.selectionStart);
            upto = upto.replace(/@[\w.+-]*$/, "@" + li.dataset.value + " ");
            area.value = upto + rest;
            area.focus();
        }
        hideSuggestions();
    }

    function suggest() {
        var area = el("composer-text");
        var text = area.value;
        if (mode === "reply" && /^\/[A-Za-z0-9_-]*$/.test(text)) {
            getJSON(page.dataset.quick + "?prefix=" + encodeURIComponent(text.slice(1)))
                .then(function (json) {
                    if (area.value !== text) { return; }
                    showSuggestions(json.items.map(function (q) {
                        return {kind: "quick", value: q.shortcut, label: "/" + q.shortcut + " — " + q.title};
                    }));
                });
            return;
        }
        var mention = mode === "note" && /(^|\s)@([\w.+-]*)$/.exec(text.slice(0, area.selectionStart));
        if (mention) {
            var typed = mention[2].toLowerCase();
            showSuggestions(members.filter(function (m) {
                return m.username.toLowerCase().indexOf(typed) === 0 && String(m.id) !== page.dataset.me;
            }).slice(0, 8).map(function (m) {
                return {kind: "member", value: m.username, label: "@" + m.username + " — " + m.name};
            }));
            return;
        }
        hideSuggestions();
    }

    function initConversation() {
        members = JSON.parse(el("inbox-members").textContent || "[]");
        var first = JSON.parse(el("thread-page").textContent || "{}");
        inbox.appendItems(first);
        oldest = first.older || null;
        el("thread-older").addEventListener("click", function () {
            getJSON(page.dataset.api + "/messages?before=" + encodeURIComponent(oldest)).then(prependItems);
        });
        el("composer").addEventListener("submit", function (event) { event.preventDefault(); send(); });
        el("mode-reply").addEventListener("click", function () { setMode("reply"); });
        el("mode-note").addEventListener("click", function () { setMode("note"); });
        var area = el("composer-text");
        area.addEventListener("input", suggest);
        area.addEventListener("keydown", function (event) {
            var open = !el("composer-suggestions").classList.contains("hidden");
            var count = el("composer-suggestions").children.length;
            if (open && event.key === "ArrowDown") { suggestionIndex = (suggestionIndex + 1) % count; highlight(); event.preventDefault(); }
            else if (open && event.key === "ArrowUp") { suggestionIndex = (suggestionIndex - 1 + count) % count; highlight(); event.preventDefault(); }
            else if (open && (event.key === "Enter" || event.key === "Tab")) { choose(suggestionIndex); event.preventDefault(); }
            else if (open && event.key === "Escape") { hideSuggestions(); event.preventDefault(); }
            else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { send(); event.preventDefault(); }
            else if (event.key === "Escape") { area.blur(); }
        });
        el("conversation-status").addEventListener("change", function () {
            act("status", {status: el("conversation-status").value});
        });
        el("conversation-assignee").addEventListener("change", function () {
            var value = el("conversation-assignee").value;
            act("assign", {assignee_id: value ? Number(value) : null});
        });
        el("takeover").addEventListener("click", function () { act("takeover"); });
        el("giveback").addEventListener("click", function () { act("giveback"); });
        document.addEventListener("keydown", function (event) {
            if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) { return; }
            if (event.key === "r") { event.preventDefault(); area.focus(); }
            else if (event.key === "e") { el("conversation-status").value = "resolved"; act("status", {status: "resolved"}); }
            else if (event.key === "a") { act("assign", {assignee_id: Number(page.dataset.me)}); }
            else if (event.key === "?") { showHelp(); }
            else if (event.key === "/") { event.preventDefault(); window.location.href = page.dataset.list; }
        });
        if (window.location.hash === "#reply") { area.focus(); }
    }

    // --- real time (app/static/js/live.js dispatches the workspace's events) -----------------

    function later(fn, ms) {
        var timer = null;
        return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
    }

    function liveList() {
        // a message or a change anywhere in the workspace: the first page again, the same row
        // kept selected (events come in bursts: one reload per 200 ms)
        var reload = later(function () {
            if (nextCursor && el("inbox-list").querySelectorAll(".inbox-row").length > 30) {
                return;  // the member paged further: leave what they are reading alone
            }
            var keep = selectedId();
            inbox.loadList().then(function () {
                var all = rows();
                for (var i = 0; i < all.length; i += 1) {
                    if (all[i].dataset.id === keep) { select(i); break; }
                }
            });
        }, 200);
        ["relaydesk:message", "relaydesk:conversation", "relaydesk:reset"].forEach(function (n) {
            document.addEventListener(n, reload);
        });
    }

    function liveConversation() {
        var id = page.dataset.id;
        function mine(event) {
            return event.detail && String(event.detail.conversation_id) === id;
        }
        var newer = later(function () { inbox.loadNewer(); }, 100);
        var state = later(function () {
            getJSON(page.dataset.api).then(inbox.applyState).catch(function () {});
            inbox.loadNewer();
        }, 100);
        // a delivery status moved: the newest page again (its items replace those shown)
        var statuses = later(function () {
            getJSON(page.dataset.api + "/messages").then(inbox.appendItems).catch(function () {});
        }, 300);
        document.addEventListener("relaydesk:message", function (event) {
            if (mine(event)) { newer(); }
        });
        document.addEventListener("relaydesk:conversation", function (event) {
            if (mine(event)) { state(); }
        });
        document.addEventListener("relaydesk:reset", state);
        document.addEventListener("relaydesk:status", function (event) {
            var d = event.detail || {};
            if (String(d.channel_id) === page.dataset.channel && d.chat_id === page.dataset.chat) {
                statuses();
            }
        });
        var typingTimer = null;
        document.addEventListener("relaydesk:typing", function (event) {
            var d = event.detail || {};
            if (!mine(event) || String(d.user_id) === page.dataset.me) { return; }
            el("inbox-typing").textContent = page.dataset.typingLabel.replace("{name}", d.name || "");
            clearTimeout(typingTimer);
            typingTimer = setTimeout(function () { el("inbox-typing").textContent = ""; }, 5000);
        });
    }

    if (list) { initList(); liveList(); }
    if (page) { initConversation(); liveConversation(); }
}());
