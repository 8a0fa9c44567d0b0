/*
 * Relaydesk: the master admin's dashboard charts (app/views/dashboard.py).
 *
 * The data comes from the page's <script type="application/json" id="dashboard-charts"> block
 * (escaped by the server, parsed here as JSON, never evaluated); Chart.js is the copy the app
 * serves itself (app/static/vendor/chartjs, `make vendor`). Titles and labels arrive
 * translated; numbers are written in the page's language.
 */
(function () {
    "use strict";

    var source = document.getElementById("dashboard-charts");
    if (!source || typeof window.Chart === "undefined") {
        return;
    }
    var data = JSON.parse(source.textContent);
    var language = document.documentElement.getAttribute("lang") || undefined;
    var rtl = document.documentElement.getAttribute("dir") === "rtl";
    var palette = ["#337ab7", "#5cb85c", "#f0ad4e", "#d9534f", "#5bc0de", "#777777"];

    function draw(id, config) {
        var canvas = document.getElementById(id);
        if (!canvas) {
            return;
        }
        config.options = Object.assign({
            responsive: true,
            maintainAspectRatio: false,
            animation: false,
            locale: language,
            plugins: {legend: {rtl: rtl}, tooltip: {rtl: rtl}}
        }, config.options || {});
        canvas.chart = new window.Chart(canvas, config);
    }

    draw("chart-signups", {
        type: "bar",
        data: {
            labels: data.signups.days,
            datasets: [{label: data.signups.label, data: data.signups.counts,
                        backgroundColor: palette[0]}]
        },
        options: {
            scales: {y: {beginAtZero: true, ticks: {precision: 0}},
                     x: {reverse: rtl}},
            plugins: {legend: {display: false}}
        }
    });

    draw("chart-mrr", {
        type: "bar",
        data: {
            labels: data.mrr.plans,
            datasets: data.mrr.series.map(function (series, index) {
                return {label: series.currency, data: series.amounts,
                        backgroundColor: palette[index % palette.length]};
            })
        },
        options: {scales: {y: {beginAtZero: true}, x: {reverse: rtl}}}
    });
}());
