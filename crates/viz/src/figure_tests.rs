//! Figure layout and rendering tests.

use image::RgbImage;

use crate::figure::*;
use crate::text::text_width;
use crate::{Colormap, Column, Figure, MapRef, SignedStyle, VizError};

const SIDE: usize = 28;

/// A synthetic 28x28 "digit": a bright diagonal stroke on black.
fn digit() -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let (x, y) = ((i % SIDE) as i32, (i / SIDE) as i32);
            if (x - y).abs() <= 2 && (4..24).contains(&y) {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// A smooth blob in `[0, 1]`, peaking at the centre.
fn cam() -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let (x, y) = ((i % SIDE) as f32 - 13.5, (i / SIDE) as f32 - 13.5);
            (-(x * x + y * y) / 60.0).exp()
        })
        .collect()
}

/// Signed values with both signs.
fn guided() -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| ((i % SIDE) as f32 - 14.0) * ((i / SIDE) as f32 / 28.0))
        .collect()
}

struct Data {
    digit: Vec<f32>,
    cam: Vec<f32>,
    guided: Vec<f32>,
}

impl Data {
    fn new() -> Self {
        Self {
            digit: digit(),
            cam: cam(),
            guided: guided(),
        }
    }

    fn column(&self, class: usize) -> Column<'_> {
        let m = |v| MapRef::new(v, SIDE, SIDE).unwrap();
        Column::new(
            m(&self.digit),
            m(&self.cam),
            m(&self.guided),
            m(&self.guided),
        )
        .unwrap()
        .prediction(class, 0.998)
        .truth(class)
    }

    fn figure(&self, columns: usize) -> Figure<'_> {
        Figure::new("test figure").columns((0..columns).map(|c| self.column(c % 10)))
    }
}

fn decode(png: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8()
}

#[test]
fn dimensions_follow_layout_constants() {
    let data = Data::new();
    let scale = Figure::DEFAULT_SCALE;
    let cell = SIDE as u32 * scale;
    // The defaults fit the fixed minimum widths, so the size is pure arithmetic.
    assert!(
        text_width("pred 9 (0.998) | true 9", f64::from(CAPTION_SIZE), false).unwrap()
            + CAPTION_PAD
            <= cell
    );
    for title in Figure::DEFAULT_ROW_TITLES {
        assert!(
            text_width(title, f64::from(ROW_LABEL_SIZE), false).unwrap() <= ROW_LABEL_MIN_WIDTH
        );
    }
    for n in [1_u32, 3, 8] {
        let figure = data.figure(n as usize).scale(scale);
        let width = MARGIN
            + ROW_LABEL_MIN_WIDTH
            + ROW_LABEL_GAP
            + n * cell
            + (n - 1) * CELL_GAP
            + BAR_GAP
            + BAR_WIDTH
            + BAR_LABEL_GAP
            + BAR_LABEL_WIDTH
            + MARGIN;
        let height = MARGIN
            + TITLE_SIZE
            + TITLE_GAP
            + CAPTION_SIZE
            + CAPTION_GAP
            + 4 * cell
            + 3 * CELL_GAP
            + MARGIN;
        assert_eq!(figure.dimensions().unwrap(), (width, height), "{n} columns");
        let image = decode(&figure.render_png().unwrap());
        assert_eq!(image.dimensions(), (width, height), "{n} columns");
        assert!(width > height || n == 1, "landscape for {n} columns");
    }
}

#[test]
fn heat_cells_are_coloured_where_raw_cells_are_grey() {
    let data = Data::new();
    for cmap in Colormap::ALL.into_iter().filter(|&c| c != Colormap::Gray) {
        for alpha in [None, Some(0.5)] {
            let figure = data.figure(2).colormap(cmap).overlay_alpha(alpha);
            let layout = figure.layout().unwrap();
            let image = decode(&figure.render_png().unwrap());
            let cell = SIDE as u32 * Figure::DEFAULT_SCALE;
            for column in 0..2 {
                let (rx, ry) = layout.cell_origin(0, column);
                let (hx, hy) = layout.cell_origin(1, column);
                let mut coloured = 0;
                for dy in 0..cell {
                    for dx in 0..cell {
                        let [r, g, b] = image.get_pixel(rx + dx, ry + dy).0;
                        assert!(r == g && g == b, "raw cell not grey at ({dx}, {dy})");
                        let [r, g, b] = image.get_pixel(hx + dx, hy + dy).0;
                        coloured += usize::from(r != g || g != b);
                    }
                }
                let total = (cell * cell) as usize;
                assert!(
                    coloured * 10 >= total * 9,
                    "{cmap} {alpha:?}: {coloured}/{total} coloured"
                );
            }
        }
    }
}

#[test]
fn title_and_captions_are_drawn() {
    let data = Data::new();
    let figure = data.figure(2);
    let layout = figure.layout().unwrap();
    let image = decode(&figure.render_png().unwrap());
    let inked = |x0: u32, y0: u32, w: u32, h: u32| {
        (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 != [255; 3])
            .count()
    };
    assert!(inked(0, MARGIN, layout.width, TITLE_SIZE) > 50, "title");
    assert!(
        inked(0, layout.caption_y, layout.width, CAPTION_SIZE) > 50,
        "captions"
    );
    let label_x = MARGIN;
    assert!(
        inked(
            label_x,
            layout.row_y[2],
            layout.label_right - label_x,
            layout.row_height
        ) > 50,
        "row title"
    );
    // Nothing but background in the left margin.
    assert_eq!(inked(0, 0, MARGIN / 2, layout.height), 0);
}

#[test]
fn svg_has_the_same_size_and_texts() {
    let data = Data::new();
    let figure = Figure::new("a <b> & c").column(data.column(7));
    let (w, h) = figure.dimensions().unwrap();
    let svg = figure.render_svg().unwrap();
    assert!(svg.starts_with("<svg "), "{}", &svg[..80]);
    assert!(svg.contains(&format!(r#"width="{w}" height="{h}""#)));
    assert!(svg.contains("a &lt;b&gt; &amp; c"));
    assert!(svg.contains("pred 7 (0.998) | true 7"));
    assert!(svg.contains("Guided Grad-CAM"));
    // Four maps and three colour bars.
    assert_eq!(svg.matches("<image ").count(), 7);
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn row_titles_and_long_texts_widen_the_figure() {
    let data = Data::new();
    let base = data.figure(1).dimensions().unwrap();
    let long_rows = data
        .figure(1)
        .row_titles([
            "Input",
            "CAM",
            "GBP",
            "A much longer row title than the default ones",
        ])
        .dimensions()
        .unwrap();
    assert!(long_rows.0 > base.0 && long_rows.1 == base.1);
    let long_title = Figure::new("T".repeat(300))
        .column(data.column(1))
        .dimensions()
        .unwrap();
    assert!(long_title.0 > base.0);
    let long_caption = Figure::new("t")
        .column(
            data.column(1)
                .prediction("a very long class name indeed", 0.5),
        )
        .dimensions()
        .unwrap();
    assert!(long_caption.0 > base.0);
}

#[test]
fn maps_of_any_size_render() {
    let small = vec![0.5_f32; 7 * 5];
    let large = vec![0.5_f32; 64 * 48];
    fn column(v: &[f32], w: usize, h: usize) -> Column<'_> {
        let m = MapRef::new(v, w, h).unwrap();
        Column::new(m, m, m, m).unwrap()
    }
    let figure = Figure::new("mixed")
        .scale(2)
        .signed_style(SignedStyle::Positive)
        .column(column(&small, 7, 5))
        .column(column(&large, 64, 48));
    let layout = figure.layout().unwrap();
    assert_eq!(layout.cells, [(14, 10), (128, 96)]);
    assert_eq!(layout.row_height, 96);
    let image = figure.render_rgb().unwrap();
    assert_eq!(image.dimensions(), (layout.width, layout.height));
}

#[test]
fn all_zero_maps_render_in_every_style() {
    let zeros = vec![0.0_f32; SIDE * SIDE];
    let m = MapRef::new(&zeros, SIDE, SIDE).unwrap();
    for style in [
        SignedStyle::Diverging,
        SignedStyle::CAPTUM_ABS,
        SignedStyle::Positive,
    ] {
        let figure = Figure::new("zeros")
            .signed_style(style)
            .column(Column::new(m, m, m, m).unwrap());
        assert!(figure.render_png().is_ok(), "{style}");
    }
}

#[test]
fn invalid_figures_are_errors() {
    let data = Data::new();
    assert!(matches!(
        Figure::new("empty").render_png(),
        Err(VizError::NoColumns)
    ));
    assert!(matches!(
        data.figure(MAX_COLUMNS + 1).render_rgb(),
        Err(VizError::TooManyColumns { count: 65, max: 64 })
    ));
    assert!(matches!(
        data.figure(1).scale(0).render_rgb(),
        Err(VizError::InvalidScale { .. })
    ));
    assert!(matches!(
        data.figure(1).overlay_alpha(Some(2.0)).render_rgb(),
        Err(VizError::InvalidAlpha { .. })
    ));
    assert!(matches!(
        data.figure(1)
            .signed_style(SignedStyle::AbsPercentile { percentile: 150.0 })
            .render_svg(),
        Err(VizError::InvalidPercentile { .. })
    ));
    let bad_probability = Figure::new("p")
        .column(data.column(1))
        .column(data.column(2).prediction(2, f32::NAN));
    assert!(matches!(
        bad_probability.render_png(),
        Err(VizError::InvalidProbability { column: 1, .. })
    ));
    assert!(matches!(
        data.figure(64).scale(100).render_rgb(),
        Err(VizError::ImageTooLarge { .. })
    ));
}

#[test]
fn columns_reject_mismatched_maps() {
    let square = vec![0.0_f32; 16];
    let wide = vec![0.0_f32; 16];
    let s = MapRef::new(&square, 4, 4).unwrap();
    let w = MapRef::new(&wide, 8, 2).unwrap();
    let err = Column::new(s, s, w, s).unwrap_err();
    assert!(
        matches!(
            err,
            VizError::SizeMismatch {
                what: "guided backprop map",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "guided backprop map is 8x2, expected 4x4");
    assert!(Column::new(s, w, s, s).is_err());
    assert!(Column::new(s, s, s, w).is_err());
}

#[test]
fn captions() {
    let data = Data::new();
    let m = MapRef::new(&data.digit, SIDE, SIDE).unwrap();
    let column = Column::new(m, m, m, m).unwrap();
    assert_eq!(column.caption(), "");
    assert_eq!(column.clone().truth(3).caption(), "true 3");
    assert_eq!(
        column.clone().prediction(4, 0.5).caption(),
        "pred 4 (0.500)"
    );
    assert_eq!(
        column.prediction("cat", 1.0).truth("dog").caption(),
        "pred cat (1.000) | true dog"
    );
}
