/*
 * Relaydesk: the action buttons, the list's action menu and the delete buttons.
 *
 * Every text comes from the button's data attributes and goes into the dialog as text
 * (jQuery .text()), never into a script or into HTML: see appbuilder/general/lib.html.
 * One delegated handler serves the whole page; the form that carries the CSRF token is
 * FAB's `#action_form` (or `#delete_form` on pages without actions).
 */
(function ($) {
    "use strict";

    var pending = null;  // what the dialog's OK button runs

    function confirmThen(text, run) {
        if (!text) {
            run();
            return;
        }
        pending = run;
        $("#modal-confirm .modal-text").text(text);
        $("#modal-confirm").modal("show");
    }

    function postTo(url) {
        var form = $("#action_form");
        if (!form.length) {
            form = $("#delete_form");
        }
        form.attr("action", url);
        form.trigger("submit");
    }

    function postSelected(name) {
        var form = $("#action_form");
        $("#action", form).val(name);
        $("input.action_check", form).remove();
        $("input.action_check:checked").each(function () {
            form.append($(this).clone());
        });
        form.trigger("submit");
    }

    $(document).on("click", "[data-action-url]", function (event) {
        event.preventDefault();
        var url = $(this).attr("data-action-url");
        confirmThen($(this).attr("data-confirmation"), function () { postTo(url); });
    });

    $(document).on("click", "[data-delete-url]", function (event) {
        event.preventDefault();
        var url = $(this).attr("data-delete-url");
        confirmThen($(this).attr("data-confirmation"), function () { postTo(url); });
    });

    $(document).on("click", "[data-action-name]", function (event) {
        event.preventDefault();
        var name = $(this).attr("data-action-name");
        if (!$("input.action_check:checked").length) {
            $("#modal-alert .modal-text").text($(this).attr("data-none-selected"));
            $("#modal-alert").modal("show");
            return;
        }
        confirmThen($(this).attr("data-confirmation"), function () { postSelected(name); });
    });

    $(document).on("click", "#modal-confirm-ok", function (event) {
        if (pending) {
            event.preventDefault();
            var run = pending;
            pending = null;
            run();
        }
    });

    $(document).on("hidden.bs.modal", "#modal-confirm", function () {
        pending = null;
    });
}(jQuery));
