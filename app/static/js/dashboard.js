/*
 * Relaydesk: the dashboard charts: the master admin's (app/views/dashboard.py) and the
 * activity charts of a workspace's home page and of the master admin's dashboard
 * (app/activity.py).
 *
 * The data comes from the page's <script type="application/json" id="dashboard-charts"> and
 * id="activity-charts" blocks
 * (escaped by the server, parsed here as JSON, never evaluated); Chart.js is the copy the app
 * serves itself (app/static/vendor/chartjs, `make vendor`). Titles and labels arrive
 * translated; numbers are written in the page's language.
 */
(function () {
    "use strict";

    if (typeof window.Chart === "undefined") {
        return;
    }
    var source = document.getElementById("dashboard-charts");
    var data = source ? JSON.parse(source.textContent) : null;
    var activitySource = document.getElementById("activity-charts");
    var activity = activitySource ? JSON.parse(activitySource.textContent) : null;
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

    function datasets(list, labelKey, dataKey) {
        return list.map(function (series, index) {
            return {label: series[labelKey], data: series[dataKey],
                    backgroundColor: palette[index % palette.length]};
        });
    }

    function bars(id, labels, label, counts, color, horizontal) {
        draw(id, {
            type: "bar",
            data: {labels: labels, datasets: [{label: label, data: counts,
                                               backgroundColor: color}]},
            options: {
                indexAxis: horizontal ? "y" : "x",
                scales: horizontal
                    ? {x: {beginAtZero: true, ticks: {precision: 0}, reverse: rtl}}
                    : {y: {beginAtZero: true, ticks: {precision: 0}}, x: {reverse: rtl}},
                plugins: {legend: {display: false}}
            }
        });
    }

    if (activity) {
        draw("chart-commands", {
            type: "bar",
            data: {
                labels: activity.commands.days,
                datasets: datasets(activity.commands.series, "label", "counts")
            },
            options: {scales: {x: {stacked: true, reverse: rtl},
                               y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}}}
        });
        bars("chart-providers", activity.providers.names, activity.providers.label,
             activity.providers.counts, palette[1], true);
        bars("chart-latency", activity.latency.buckets, activity.latency.label,
             activity.latency.counts, palette[4], false);
        bars("chart-refusals", activity.refusals.reasons, activity.refusals.label,
             activity.refusals.counts, palette[3], true);
        bars("chart-channels", activity.channels.names, activity.channels.label,
             activity.channels.counts, palette[0], true);
    }
    if (!data) {
        return;
    }

    bars("chart-signups", data.signups.days, data.signups.label, data.signups.counts,
         palette[0], false);

    draw("chart-mrr", {
        type: "bar",
        data: {
            labels: data.mrr.plans,
            datasets: datasets(data.mrr.series, "currency", "amounts")
        },
        options: {scales: {y: {beginAtZero: true}, x: {reverse: rtl}}}
    });
}());
