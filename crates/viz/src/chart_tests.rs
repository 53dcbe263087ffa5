//! Line chart layout, rendering and validation tests.

use image::RgbImage;

use crate::chart::*;
use crate::scene::Item;
use crate::{ChartFigure, LineChart, MAX_IMAGE_SIDE, MAX_SERIES, Series, VizError};

const LAYERS: [&str; 5] = ["original", "fc2", "fc1", "conv2", "conv1"];
const METHODS: [&str; 10] = [
    "Grad-CAM",
    "Guided Backprop",
    "Guided Grad-CAM",
    "Saliency",
    "Integrated Gradients",
    "SmoothGrad",
    "Gradient x Input",
    "Grad-CAM++",
    "Score-CAM",
    "Occlusion",
];

/// Series `k` decays from 1 towards a floor of its own, so no two lines overlap.
fn decay(k: usize, floor: f32) -> Vec<f32> {
    let end = floor + 0.09 * k as f32;
    (0..LAYERS.len())
        .map(|i| 1.0 - (1.0 - end) * i as f32 / (LAYERS.len() - 1) as f32)
        .collect()
}

fn panel(title: &str, metric: &str, y_range: [f32; 2], floor: f32) -> LineChart {
    let mut chart = LineChart::new(title, LAYERS)
        .x_title("randomised up to")
        .y_title(metric)
        .y_range(y_range[0], y_range[1]);
    for (k, method) in METHODS.into_iter().enumerate() {
        chart = chart.series(method, decay(k, floor));
    }
    chart
}

/// The model-randomisation figure: 2x2 panels, ten methods each.
fn sanity_figure() -> ChartFigure {
    ChartFigure::new("Model randomisation test").charts([
        panel("Cascading", "Spearman", [-1.0, 1.0], -0.8),
        panel("Independent", "Spearman", [-1.0, 1.0], -0.6),
        panel("Cascading", "SSIM", [0.0, 1.0], 0.0),
        panel("Independent", "SSIM", [0.0, 1.0], 0.05),
    ])
}

fn small(series: Vec<Series>) -> LineChart {
    LineChart {
        title: "t".into(),
        x_labels: vec!["a".into(), "b".into(), "c".into()],
        x_title: String::new(),
        y_title: String::new(),
        y_range: [0.0, 1.0],
        series,
    }
}

fn decode(png: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8()
}

fn count_colour(image: &RgbImage, color: [u8; 3]) -> usize {
    image.pixels().filter(|p| p.0 == color).count()
}

#[test]
fn rendering_is_deterministic() {
    let figure = sanity_figure();
    assert_eq!(figure.render_png().unwrap(), figure.render_png().unwrap());
    assert_eq!(figure.render_svg().unwrap(), figure.render_svg().unwrap());
    assert_eq!(
        figure.render_rgb().unwrap(),
        sanity_figure().render_rgb().unwrap()
    );
}

#[test]
fn png_has_the_reported_dimensions() {
    for columns in [1, 2, 3, 4, 100] {
        let figure = sanity_figure().columns(columns);
        let (w, h) = figure.dimensions().unwrap();
        let image = decode(&figure.render_png().unwrap());
        assert_eq!(image.dimensions(), (w, h), "{columns} columns");
        assert_eq!(figure.render_rgb().unwrap(), image);
        let svg = figure.render_svg().unwrap();
        assert!(svg.contains(&format!(r#"width="{w}" height="{h}""#)));
    }
}

#[test]
fn grid_fills_rows_first() {
    let figure = sanity_figure();
    let layout = figure.layout().unwrap();
    assert_eq!(layout.columns, 2);
    let origins: Vec<_> = (0..4).map(|i| layout.panel_origin(i)).collect();
    assert_eq!(origins[0].1, origins[1].1);
    assert!(origins[1].0 > origins[0].0);
    assert_eq!(origins[2].0, origins[0].0);
    assert!(origins[2].1 > origins[0].1);
    // Three charts in two columns: two rows, the second half empty.
    let three = ChartFigure {
        charts: figure.charts[..3].to_vec(),
        ..figure.clone()
    };
    let (w3, h3) = three.dimensions().unwrap();
    assert_eq!((w3, h3), figure.dimensions().unwrap());
    // A single row is wider and shorter.
    let (w1, h1) = figure.clone().columns(4).dimensions().unwrap();
    assert!(w1 > w3 && h1 < h3);
    // More columns than charts is one row.
    assert_eq!(figure.clone().columns(9).dimensions().unwrap(), (w1, h1));
    // The legend lies right of the grid, starting level with the first frame.
    let [lx, ly, ..] = layout.legend_box.unwrap();
    assert!(lx > origins[1].0 + layout.panel_width);
    assert_eq!(ly, layout.plot_origin(0).1 - 1);
}

#[test]
fn svg_contains_escaped_titles_labels_and_legend() {
    let figure = ChartFigure::new("Figure <&> title").chart(
        LineChart::new("Panel <&>", ["x<&>1", "x2"])
            .x_title("x title <&>")
            .y_title("y title <&>")
            .series("series <&>", [0.2, 0.8])
            .series("plain", [0.4, 0.6]),
    );
    let svg = figure.render_svg().unwrap();
    for text in [
        "Figure &lt;&amp;&gt; title",
        "Panel &lt;&amp;&gt;",
        "x&lt;&amp;&gt;1",
        ">x2<",
        "x title &lt;&amp;&gt;",
        "y title &lt;&amp;&gt;",
        "series &lt;&amp;&gt;",
        ">plain<",
        ">0.00<",
        ">0.50<",
        ">1.00<",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    assert!(!svg.contains("<&>"));
    // Each legend entry once, the y title turned to read upwards.
    assert_eq!(svg.matches(">plain<").count(), 1);
    assert!(svg.contains(r#"transform="rotate(-90 "#));
    // Two series: two lines, each marker drawn as a white rim plus a shape.
    let palette = ChartFigure::PALETTE.map(|[r, g, b]| format!("#{r:02x}{g:02x}{b:02x}"));
    assert_eq!(
        svg.matches(&format!(r#"stroke="{}""#, palette[0])).count(),
        2,
        "chart line and legend sample"
    );
    assert!(svg.contains(r#"<circle cx="#));
    assert!(svg.contains(&format!(r#"fill="{}"/>"#, palette[1])));
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn every_series_colour_appears_in_the_png() {
    let figure = sanity_figure();
    let image = decode(&figure.render_png().unwrap());
    let layout = figure.layout().unwrap();
    let (x0, y0) = layout.plot_origin(0);
    let plot =
        image::imageops::crop_imm(&image, x0, y0, layout.plot_width, layout.plot_height).to_image();
    for (k, color) in ChartFigure::PALETTE.iter().take(METHODS.len()).enumerate() {
        // Inside the first panel alone, not just in the legend.
        let n = count_colour(&plot, *color);
        assert!(n >= 40, "series {k} ({color:?}): {n} pixels");
    }
    // Maroon, the last colour, is unused with ten series (black is the text's).
    assert_eq!(
        count_colour(&image, ChartFigure::PALETTE[MAX_SERIES - 1]),
        0
    );
}

#[test]
fn styles_are_distinct_without_colour() {
    for (i, marker) in MARKERS.iter().enumerate() {
        assert!(!MARKERS[..i].contains(marker), "{marker:?} twice");
    }
    for (i, colour) in ChartFigure::PALETTE.iter().enumerate() {
        assert!(
            !ChartFigure::PALETTE[..i].contains(colour),
            "{colour:?} twice"
        );
    }
    assert!(DASHES.iter().any(|d| d.is_empty()));
    assert!(DASHES.iter().filter(|d| !d.is_empty()).count() >= 2);
}

#[test]
fn series_keep_their_style_across_charts() {
    // "b" comes second in the legend although it is first in the second chart.
    let figure = ChartFigure::new("f").columns(1).charts([
        small(vec![
            Series::new("a", [0.1, 0.2, 0.3]),
            Series::new("b", [0.5, 0.5, 0.5]),
        ]),
        small(vec![
            Series::new("b", [0.5, 0.5, 0.5]),
            Series::new("c", [0.9, 0.9, 0.9]),
        ]),
    ]);
    assert_eq!(figure.legend(), ["a", "b", "c"]);
    let image = figure.render_rgb().unwrap();
    let layout = figure.layout().unwrap();
    let (x, y) = layout.plot_origin(1);
    let second =
        image::imageops::crop_imm(&image, x, y, layout.plot_width, layout.plot_height).to_image();
    assert_eq!(count_colour(&second, ChartFigure::PALETTE[0]), 0);
    assert!(count_colour(&second, ChartFigure::PALETTE[1]) > 40);
    assert!(count_colour(&second, ChartFigure::PALETTE[2]) > 40);
}

/// Lines (not markers) drawn in `color`.
fn lines(figure: &ChartFigure, color: [u8; 3]) -> Vec<Vec<[f64; 2]>> {
    let svg_scene = figure_scene(figure);
    svg_scene
        .into_iter()
        .filter_map(|item| match item {
            Item::Line {
                points, color: c, ..
            } if c == color => Some(points),
            _ => None,
        })
        .collect()
}

fn figure_scene(figure: &ChartFigure) -> Vec<Item> {
    figure.scene_items().unwrap()
}

#[test]
fn nan_values_leave_gaps() {
    let nan = f32::NAN;
    let figure = ChartFigure::new("gaps").chart(LineChart {
        x_labels: (0..7).map(|i| i.to_string()).collect(),
        ..small(vec![
            Series::new("split", [0.1, 0.2, nan, 0.4, 0.5, nan, 0.7]),
            Series::new("all NaN", [nan; 7]),
            Series::new("lonely", [nan, nan, nan, 0.5, nan, nan, nan]),
        ])
    });
    let image = figure.render_rgb().unwrap();
    assert_eq!(image.dimensions(), figure.dimensions().unwrap());
    let [split, all_nan, lonely] = [0, 1, 2].map(|k| ChartFigure::PALETTE[k]);
    let split_lines = lines(&figure, split);
    // Two runs (legend sample aside): 0..=1 and 3..=4; the last value is a lone marker.
    assert_eq!(split_lines.len(), 3);
    assert_eq!(split_lines[0].len(), 2);
    assert_eq!(split_lines[1].len(), 2);
    assert_eq!(lines(&figure, all_nan).len(), 1, "legend sample only");
    assert_eq!(lines(&figure, lonely).len(), 1, "legend sample only");
    // The lone value still gets a marker in the plot.
    let layout = figure.layout().unwrap();
    let (x, y) = layout.plot_origin(0);
    let plot =
        image::imageops::crop_imm(&image, x, y, layout.plot_width, layout.plot_height).to_image();
    assert!(count_colour(&plot, lonely) > 20);
    assert_eq!(count_colour(&plot, all_nan), 0);
    figure.render_svg().unwrap();
}

#[test]
fn values_outside_the_range_are_clamped_to_the_frame() {
    let figure = ChartFigure::new("clamp").chart(small(vec![Series::new(
        "s",
        [5.0, f32::NEG_INFINITY, f32::INFINITY],
    )]));
    let layout = figure.layout().unwrap();
    let (_, y) = layout.plot_origin(0);
    let top = f64::from(y - 1) + 0.5;
    let bottom = f64::from(y + layout.plot_height) + 0.5;
    let line = &lines(&figure, ChartFigure::PALETTE[0])[0];
    let ys: Vec<f64> = line.iter().map(|p| p[1]).collect();
    assert_eq!(ys, [top, bottom, top]);
    figure.render_png().unwrap();
}

#[test]
fn zero_line_only_when_zero_is_inside_the_range() {
    let zero_lines = |y_range: [f32; 2]| {
        let figure = ChartFigure::new("z").chart(LineChart {
            y_range,
            ..small(vec![])
        });
        figure
            .scene_items()
            .unwrap()
            .into_iter()
            .filter(|item| matches!(item, Item::Line { color, .. } if *color == ZERO_LINE))
            .count()
    };
    assert_eq!(zero_lines([-1.0, 1.0]), 1);
    assert_eq!(zero_lines([-0.2, 3.0]), 1);
    assert_eq!(zero_lines([0.0, 1.0]), 0);
    assert_eq!(zero_lines([-1.0, 0.0]), 0);
    assert_eq!(zero_lines([0.5, 1.0]), 0);
}

#[test]
fn chart_without_series_has_no_legend() {
    let figure = ChartFigure::new("empty").chart(small(vec![]));
    assert!(figure.layout().unwrap().legend_box.is_none());
    figure.render_png().unwrap();
}

#[test]
fn y_ticks_are_round_and_about_five() {
    let texts = |min, max| -> Vec<String> { y_ticks(min, max).into_iter().map(|t| t.1).collect() };
    assert_eq!(
        texts(-1.0, 1.0),
        ["\u{2212}1.0", "\u{2212}0.5", "0.0", "0.5", "1.0"]
    );
    assert_eq!(texts(0.0, 1.0), ["0.00", "0.25", "0.50", "0.75", "1.00"]);
    assert_eq!(texts(0.0, 100.0), ["0", "25", "50", "75", "100"]);
    assert_eq!(texts(-0.2, 1.0), ["0.00", "0.25", "0.50", "0.75", "1.00"]);
    assert_eq!(texts(0.0, 0.3), ["0.0", "0.1", "0.2", "0.3"]);
    assert_eq!(texts(3.0, 17.0), ["5.0", "7.5", "10.0", "12.5", "15.0"]);
    assert_eq!(texts(3.0, 27.0), ["5", "10", "15", "20", "25"]);
    assert_eq!(
        texts(0.0, 1e-8),
        ["0.00e0", "2.50e-9", "5.00e-9", "7.50e-9", "1.00e-8"]
    );
    for (min, max) in [
        (-1.0, 1.0),
        (0.0, 1.0),
        (0.123, 0.124),
        (-3e38, 3.4e38),
        (1e-45, 2e-45),
        (1e30, 1.0001e30),
        (-7.0, -6.5),
    ] {
        let ticks = y_ticks(min, max);
        assert!((3..=9).contains(&ticks.len()), "[{min}, {max}]: {ticks:?}");
        for (v, _) in &ticks {
            assert!(*v >= min - (max - min) * 1e-6 && *v <= max + (max - min) * 1e-6);
        }
    }
}

#[test]
fn validation_errors_name_what_is_wrong() {
    let ok = || small(vec![Series::new("s", [0.0, 0.5, 1.0])]);
    let render = |figure: ChartFigure| {
        let err = figure.render_png().unwrap_err();
        // Every entry point reports the same error.
        assert_eq!(
            figure.render_svg().unwrap_err().to_string(),
            err.to_string()
        );
        assert_eq!(
            figure.dimensions().unwrap_err().to_string(),
            err.to_string()
        );
        err
    };

    assert!(matches!(render(ChartFigure::new("f")), VizError::NoCharts));
    assert!(matches!(
        render(ChartFigure::new("f").chart(ok()).columns(0)),
        VizError::ZeroGridColumns
    ));

    let no_labels = LineChart {
        x_labels: vec![],
        ..small(vec![])
    };
    let err = render(ChartFigure::new("f").chart(ok()).chart(no_labels));
    assert!(matches!(err, VizError::NoXLabels { chart: 1 }), "{err}");
    assert!(err.to_string().contains("chart 1"), "{err}");

    for y_range in [
        [1.0, 1.0],
        [1.0, 0.0],
        [f32::NAN, 1.0],
        [0.0, f32::INFINITY],
        [f32::NEG_INFINITY, 0.0],
    ] {
        let chart = LineChart { y_range, ..ok() };
        let err = render(ChartFigure::new("f").chart(chart));
        assert!(
            matches!(err, VizError::InvalidYRange { chart: 0, .. }),
            "{y_range:?}: {err}"
        );
    }

    let short = small(vec![
        Series::new("fine", [0.0, 0.5, 1.0]),
        Series::new("Saliency", [0.0, 0.5]),
    ]);
    let err = render(ChartFigure::new("f").chart(ok()).chart(ok()).chart(short));
    match &err {
        VizError::SeriesLengthMismatch {
            chart,
            series,
            expected,
            actual,
        } => assert_eq!(
            (*chart, series.as_str(), *expected, *actual),
            (2, "Saliency", 3, 2)
        ),
        other => panic!("unexpected {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("chart 2") && message.contains("\"Saliency\"") && message.contains('3'),
        "{message}"
    );

    let twice = small(vec![
        Series::new("s", [0.0, 0.5, 1.0]),
        Series::new("s", [1.0, 0.5, 0.0]),
    ]);
    let err = render(ChartFigure::new("f").chart(twice));
    assert!(
        matches!(&err, VizError::DuplicateSeries { chart: 0, series } if series == "s"),
        "{err}"
    );

    // Distinct labels spread over two charts count together.
    let many = |range: std::ops::Range<usize>| {
        small(
            range
                .map(|k| Series::new(format!("s{k}"), [0.0, 0.5, 1.0]))
                .collect(),
        )
    };
    let fits = ChartFigure::new("f").charts([many(0..8), many(4..MAX_SERIES)]);
    assert_eq!(fits.legend().len(), MAX_SERIES);
    fits.render_png().unwrap();
    let err = render(ChartFigure::new("f").charts([many(0..8), many(4..MAX_SERIES + 1)]));
    assert!(
        matches!(err, VizError::TooManySeries { count, max } if count == MAX_SERIES + 1 && max == MAX_SERIES),
        "{err}"
    );
}

#[test]
fn oversized_figures_are_errors_not_panics() {
    let wide = LineChart {
        x_labels: (0..5000).map(|i| format!("layer {i}")).collect(),
        ..small(vec![])
    };
    assert!(matches!(
        ChartFigure::new("f").chart(wide).render_png(),
        Err(VizError::ImageTooLarge { .. })
    ));
    let tall = ChartFigure::new("f")
        .columns(1)
        .charts(std::iter::repeat_n(small(vec![]), 100));
    match tall.dimensions() {
        Err(VizError::ImageTooLarge { height, .. }) => {
            assert!(height > u64::from(MAX_IMAGE_SIDE));
        }
        other => panic!("unexpected {other:?}"),
    }
    let huge_columns = ChartFigure::new("f")
        .columns(usize::MAX)
        .chart(small(vec![]));
    huge_columns.render_png().unwrap();
}
