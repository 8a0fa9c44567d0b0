/*
 * Relaydesk: the composer's "Send a file" form (templates/media/_attach.html).
 *
 * Checks the file's size before uploading, then posts the form with fetch (the CSRF token is
 * in the form) and shows the outcome next to the field; the page reloads once the file is
 * sent so it appears in the thread. Without this script the form posts as usual. Every text
 * comes from the form's data attributes and is set as text, never as HTML.
 */
(function () {
    "use strict";

    var form = document.getElementById("media-attach");
    if (!form || !window.fetch || !window.FormData) {
        return;
    }
    var input = document.getElementById("media-file");
    var error = document.getElementById("media-file-error");
    var status = document.getElementById("media-status");
    var button = document.getElementById("media-send");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;

    function showError(text) {
        error.textContent = text || "";
        error.hidden = !text;
    }

    input.addEventListener("change", function () {
        showError("");
        var file = input.files && input.files[0];
        if (file && maxBytes && file.size > maxBytes) {
            showError(form.getAttribute("data-too-large"));
        }
    });

    form.addEventListener("submit", function (event) {
        event.preventDefault();
        showError("");
        var file = input.files && input.files[0];
        if (file && maxBytes && file.size > maxBytes) {
            showError(form.getAttribute("data-too-large"));
            return;
        }
        button.disabled = true;
        status.textContent = form.getAttribute("data-sending");
        fetch(form.action, {
            method: "POST", body: new FormData(form), credentials: "same-origin",
            headers: {"Accept": "application/json", "X-Requested-With": "fetch"}
        }).then(function (response) {
            return response.json().then(function (body) {
                return {ok: response.ok, body: body};
            }, function () {
                return {ok: false, body: {}};
            });
        }).then(function (answer) {
            button.disabled = false;
            if (answer.ok) {
                status.textContent = form.getAttribute("data-sent");
                form.reset();
                window.setTimeout(function () { window.location.reload(); }, 1500);
                return;
            }
            status.textContent = "";
            var errors = (answer.body && answer.body.errors) || {};
            showError(errors.file || form.getAttribute("data-failed"));
        }, function () {
            button.disabled = false;
            status.textContent = "";
            showError(form.getAttribute("data-failed"));
        });
    });
}());
