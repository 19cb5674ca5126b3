use super::*;
use crate::timefmt::MS_PER_DAY;

const NOW: i64 = 1_800_000_000_000;

/// Width and height as a PNG decoder reads them, and the pixels decoded.
fn decode(png: &Png) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png.bytes.clone()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    (frame.width, frame.height)
}

fn sample(rooms: u64) -> Bins {
    let kinds = [
        ReasonKind::Inactive,
        ReasonKind::Active,
        ReasonKind::Abandoned,
        ReasonKind::Protected,
        ReasonKind::Unknown,
    ];
    let mut bins = Bins::default();
    for i in 0..rooms {
        // Ages spread over ten years, a twentieth of the rooms undated.
        let last = (i % 20 != 0).then(|| NOW - ((i * 7919) % 3650) as i64 * MS_PER_DAY);
        bins.add(last, NOW, kinds[(i % 5) as usize]);
    }
    bins
}

#[test]
fn a_chart_is_a_png_of_the_stated_size_whose_text_has_the_counts() {
    let bins = sample(5);
    let chart = of_bins(&bins, NOW, "example.com", 365).unwrap();
    assert_eq!(decode(&chart.png), (WIDTH, HEIGHT));
    assert_eq!((chart.png.width, chart.png.height), (WIDTH, HEIGHT));
    assert!(
        chart.alt.starts_with(
            "Chart of example.com's rooms by time since last activity, 2027-01-15: 5 rooms; \
             2 to delete (1 inactive, 1 abandoned), 3 to keep (1 active, 1 protected, 1 unknown); \
             rooms are inactive after 365 days. By age: < 1 day 0, "
        ),
        "{}",
        chart.alt
    );
    assert!(chart.alt.ends_with(", no date 1."), "{}", chart.alt);
}

#[test]
fn a_million_rooms_draw_as_readily_as_five() {
    let bins = sample(1_000_000);
    assert_eq!(bins.total(), 1_000_000);
    let started = std::time::Instant::now();
    let chart = of_bins(&bins, NOW, "big.example.com", 90).unwrap();
    // Measured, not asserted: the figure goes in BENCHMARKS.md.
    eprintln!(
        "chart of 1,000,000 rooms drawn in {:?} (debug build)",
        started.elapsed()
    );
    assert_eq!(decode(&chart.png), (WIDTH, HEIGHT));
    assert!(
        chart.alt.contains(": 1,000,000 rooms; 400,000 to delete"),
        "{}",
        chart.alt
    );
}

#[test]
fn big_numbers_get_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
}
