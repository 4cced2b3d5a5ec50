"""Publication dates on real pages with known dates: ours against trafilatura's metadata.

Two sets of other projects' test pages, from their sdists on PyPI:

- htmldate's `tests/cache/` (its sdists carried it up to version 1.4.0): the 55 pages that
  htmldate's evaluation file (`tests/eval_default.json` in its repository) dates;
- trafilatura's `tests/cache/` (its 1.0.0 sdist): the 18 further pages that file dates.

Only those facts (file name, URL, day) are written here; the pages themselves are others' texts,
never committed: the script downloads the two sdists with pip into `bench/out/dates/` (git-ignored)
on its first run and reads them from there after. It needs `pip` and access to PyPI for that
first run, nothing else.

For each page, the same HTML and URL (no feed) go to:

- **ours**: `monitor.extract.extract_page`, the path every fetched page takes; its
  `published_at`, `date_source` and `date_evidence`. A page with no article text gets no
  article, and so no date.
- **trafilatura**: `trafilatura.extract_metadata(html, default_url=url).date` (htmldate's
  extensive search for the original date, as trafilatura does by default), and the date of
  `trafilatura.bare_extraction(html, url=url, with_metadata=True)`.

A date is right when its day equals the known day. Groups: `dev`, the half of htmldate's pages
(by a hash of the file name) the date rules were written on; `held`, the other half; `fresh`,
trafilatura's pages, kept apart until the rules were done (docs/dates.md says what was looked at
after the first measurement of each).

    python bench/bench_dates.py [--show] [--suite htmldate|trafilatura] [--timing]

`--show` lists every page with each side's answer. `--timing` also times `extract_page` over the
realworld/aeb pages of `../shared/data` (ms/page, one run) and prints the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from monitor.errors import ExtractError  # noqa: E402
from monitor.extract import extract_page  # noqa: E402
from monitor.models import Page  # noqa: E402
from tests.fetch_server import AEB  # noqa: E402

OUT = ROOT / "bench" / "out" / "dates"


@dataclass(frozen=True)
class Suite:
    """Pages of one sdist's tests/cache, with their known days."""

    name: str
    sdist: str  # pip requirement
    known: dict[str, tuple[str, str]]  # file in tests/cache -> (URL, known day)

    @property
    def cache(self) -> Path:
        """Where the sdist's tests/cache is unpacked."""
        return OUT / self.sdist.replace("==", "-") / "tests" / "cache"


# file in tests/cache -> (URL, known day), from htmldate's tests/eval_default.json.
HTMLDATE_PAGES: dict[str, tuple[str, str]] = {
    "die-partei.net.sh.html": ("https://die-partei.net/sh/", "2014-07-19"),
    "kinra.de.html": ("http://blog.kinra.de/?p=959/", "2012-12-16"),
    "blog.python.org.html": (
        "http://blog.python.org/2016/12/python-360-is-now-available.html",
        "2016-12-23",
    ),
    "blog.todamax.net.html": (
        "http://blog.todamax.net/2018/midp-emulator-kemulator-und-brick-challenge/",
        "2018-02-15",
    ),
    "carta.info.html": (
        "http://carta.info/der-neue-trend-muss-statt-wunschkoalition/",
        "2012-05-08",
    ),
    "500px.com.spring.html": (
        "https://500px.com/photo/26034451/spring-in-china-by-alexey-kruglov",
        "2013-02-16",
    ),
    "bayern.de.html": ("https://bayern.de/", "2017-10-06"),
    "creativecommons.org.html": ("https://creativecommons.org/about/", "2016-05-22"),
    "blog.wordpress.com.html": ("https://en.blog.wordpress.com/", "2017-08-30"),
    "futurezone.at.cc.html": (
        "https://futurezone.at/digital-life/wie-creativecommons-richtig-genutzt-wird/24.600.504",
        "2013-08-09",
    ),
    "netzpolitik.org.abmahnungen.html": (
        "https://netzpolitik.org/2016/die-cider-connection-abmahnungen-gegen-nutzer-von-"
        "creative-commons-bildern/",
        "2016-06-23",
    ),
    "pixabay.com.tos.html": ("https://pixabay.com/en/service/terms/", "2017-08-09"),
    "austria.info.html": ("https://www.austria.info/", "2017-09-07"),
    "befifty.montauk.html": (
        "https://www.befifty.de/home/2017/7/12/unter-uns-montauk",
        "2017-07-12",
    ),
    "beltz.de.didakta.html": (
        "https://www.beltz.de/fachmedien/paedagogik/didacta_2019_in_koeln_19_23_februar/"
        "beltz_veranstaltungen_didacta_2016/veranstaltung.html?tx_news_pi1%5Bnews%5D=14392"
        "&tx_news_pi1%5Bcontroller%5D=News&tx_news_pi1%5Baction%5D=detail"
        "&cHash=10b1a32fb5b2b05360bdac257b01c8fa",
        "2019-02-20",
    ),
    "channelpartner.de.berufe.html": (
        "https://www.channelpartner.de/a/sieben-berufe-die-zukunft-haben,3050673",
        "2019-04-03",
    ),
    "creativecommons.at.faircoin.html": (
        "https://www.creativecommons.at/faircoin-hackathon",
        "2017-07-24",
    ),
    "eff.org.2015.html": ("https://www.eff.org/files/annual-report/2015/index.html", "2016-05-04"),
    "facebook.com.visitaustria.html": ("https://www.facebook.com/visitaustria/", "2017-10-06"),
    "gnu.org.gpl.html": ("https://www.gnu.org/licenses/gpl-3.0.en.html", "2016-11-18"),
    "goodform.ch.blog.html": (
        "https://www.goodform.ch/blog/schattiges_plaetzchen",
        "2018-06-27",
    ),
    "horizont.net.html": (
        "https://www.horizont.net/marketing/kommentare/influencer-marketing-was-sich-nach-dem-"
        "vreni-frost-urteil-aendert-und-aendern-muss-172529",
        "2019-01-29",
    ),
    "scs78.de.html": (
        "https://www.scs78.de/news/items/warm-war-es-schoen-war-es.html",
        "2018-06-10",
    ),
    "tagesausblick.de.dow.html": (
        "https://www.tagesausblick.de/Analyse/USA/DOW-Jones-Jahresendrally-ade__601.html",
        "2012-12-22",
    ),
    "transgen.de.aktuell.html": (
        "https://www.transgen.de/aktuell/2687.afrikanische-schweinepest-genome-editing.html",
        "2018-01-18",
    ),
    "weltwoche.ch.html": (
        "https://www.weltwoche.ch/ausgaben/2019-4/artikel/forbes-die-weltwoche-ausgabe-4-2019.html",
        "2019-01-23",
    ),
    "freundeskreis-videoclips.de.html": (
        "http://www.freundeskreis-videoclips.de/waehlen-sie-car-player-tipps-zur-auswahl-der-"
        "besten-car-cd-player/",
        "2017-07-12",
    ),
    "wunderweib.html": (
        "https://www.wunderweib.de/manuela-reimann-hochzeitsueberraschung-in-bayern-107930.html",
        "2019-06-20",
    ),
    "unexpecteduser.2011.html": ("http://unexpecteduser.blogspot.de/2011/", "2011-03-30"),
    "eza.gv.at.html": (
        "http://www.eza.gv.at/das-ministerium/presse/aussendungen/2018/07/aussenministerin-"
        "karin-kneissl-beim-treffen-der-deutschsprachigen-aussenminister-in-luxemburg/",
        "2018-07-03",
    ),
    "greenpeace.org.forests.html": (
        "http://www.greenpeace.org/international/en/campaigns/forests/asia-pacific/",
        "2017-04-28",
    ),
    "hobby-werkstatt-blog.de.roomba.html": (
        "http://www.hobby-werkstatt-blog.de/arduino/424-eine-arduino-virtual-wall-fuer-den-"
        "irobot-roomba.php",
        "2015-12-14",
    ),
    "jovelstefan.de.parken.html": (
        "http://www.jovelstefan.de/2012/05/11/parken-in-paris/",
        "2012-05-11",
    ),
    "klimawandel-global.de.html": (
        "http://www.klimawandel-global.de/klimaschutz/energie-sparen/elektromobilitat-der-"
        "neue-trend/",
        "2013-05-03",
    ),
    "medef.fr.dispute.html": (
        "http://www.medef.com/en/content/alternative-dispute-resolution-for-antitrust-damages",
        "2017-09-01",
    ),
    "pbrunst.de.html": (
        "http://www.pbrunst.de/news/2011/12/kein-cyberterrorismus-diesmal/",
        "2011-12-03",
    ),
    "stuttgart.de.html": ("http://www.stuttgart.de/", "2017-10-09"),
    "paris-luttes.info.html": (
        "https://paris-luttes.info/quand-on-comprend-que-les-grenades-12355",
        "2019-06-29",
    ),
    "brigitte.de.riverdale.html": (
        "https://www.brigitte.de/aktuell/riverdale--so-ehrt-die-serie-luke-perry-in-staffel-"
        "vier-11602344.html",
        "2019-06-20",
    ),
    "ldt.de.fallinlove.html": (
        "https://www.ldt.de/ldtblog/fall-in-love-with-black/",
        "2017-08-08",
    ),
    "loldf.org.html": ("http://www.loldf.org/spip.php?article717", "2019-06-27"),
    "oberstdorfresort.de.kraeuter.html": (
        "https://www.oberstdorf-resort.de/interaktiv/blog/unser-kraeutergarten-"
        "wannenkopfhuette.html",
        "2018-06-20",
    ),
    "wienbadminton.at.html": (
        "https://www.wienbadminton.at/news/119843/Come-Together",
        "2018-05-06",
    ),
    "blog.wikimedia.interactivemaps.html": (
        "https://blog.wikimedia.org/2018/06/28/interactive-maps-now-in-your-language/",
        "2018-06-28",
    ),
    "mediapart.fr.violences.html": (
        "https://blogs.mediapart.fr/elba/blog/260619/violences-policieres-bombe-retardement-"
        "mediatique",
        "2019-06-27",
    ),
    "verfassungsblog.de.decade.html": (
        "https://verfassungsblog.de/the-first-decade/",
        "2019-07-13",
    ),
    "cric-grenoble.info.radio.html": (
        "https://cric-grenoble.info/infos-locales/article/putsh-en-cours-a-radio-kaleidoscope-1145",
        "2019-06-09",
    ),
    "kurz.at.wasserstoff.html": (
        "https://www.sebastian-kurz.at/magazin/wasserstoff-als-schluesseltechnologie",
        "2019-07-30",
    ),
    "la-bas.org.porte.html": (
        "https://la-bas.org/la-bas-magazine/chroniques/Didier-Porte-souhaite-la-Sante-a-Balkany",
        "2019-06-28",
    ),
    "revolutionpermanente.fr.antonin.html": (
        "https://www.revolutionpermanente.fr/Antonin-Bernanos-en-prison-depuis-pres-de-deux-"
        "mois-en-raison-de-son-militantisme",
        "2019-06-13",
    ),
    "wara-enforcement.org.guinee.html": (
        "http://www.wara-enforcement.org/guinee-un-braconnier-delephant-interpelle-et-condamne-"
        "a-la-peine-maximale/",
        "2016-09-27",
    ),
    "ebene11.com.autocad.html": (
        "https://ebene11.com/die-arbeit-mit-fremden-dwg-dateien-in-autocad",
        "2017-01-12",
    ),
    "acredis.com.augenlidstraffung.html": (
        "https://www.acredis.com/schoenheitsoperationen/augenlidstraffung/",
        "2018-02-28",
    ),
    "hertie-school.org.leyen.html": (
        "https://www.hertie-school.org/en/debate/detail/content/whats-on-the-cards-for-von-"
        "der-leyen/",
        "2019-12-02",
    ),
    "adac.de.kindersitztest.html": (
        "https://www.adac.de/rund-ums-fahrzeug/tests/kindersicherheit/kindersitztest-2018/",
        "2018-10-23",
    ),
}


# The pages of trafilatura's tests/cache (its 1.0.0 sdist) that htmldate's evaluation file
# also dates, less those already above: news and blogs, kept apart as a set the date rules were
# never looked at on.
TRAFILATURA_PAGES: dict[str, tuple[str, str]] = {
    "blog.mondediplo.net.turpitude.html": (
        "https://blog.mondediplo.net/turpitude-et-architecture",
        "2018-06-21",
    ),
    "faz.net.streaming.html": (
        "https://www.faz.net/aktuell/wirtschaft/nutzerbasierte-abrechnung-musik-stars-fordern-"
        "neues-streaming-modell-16604622.html",
        "2020-01-28",
    ),
    "gregoryszorc.com.python3.html": (
        "https://gregoryszorc.com/blog/2020/01/13/mercurial%27s-journey-to-and-reflections-on-"
        "python-3/",
        "2020-01-13",
    ),
    "laviedesidees.fr.evaluation.html": (
        "https://laviedesidees.fr/L-evaluation-et-les-listes-de.html",
        "2009-09-15",
    ),
    "lemire.me.json.html": (
        "https://lemire.me/blog/2019/08/02/json-parsing-simdjson-vs-json-for-modern-c/",
        "2019-08-02",
    ),
    "nationalgeographic.co.uk.goats.html": (
        "https://www.nationalgeographic.co.uk/environment-and-conservation/2020/01/ravenous-"
        "wild-goats-ruled-island-over-century-now-its-being",
        "2020-01-06",
    ),
    "nature.com.telescope.html": (
        "https://www.nature.com/articles/d41586-019-02790-3",
        "2019-09-24",
    ),
    "ndr.de.podcastcoronavirus140.html": (
        "https://www.ndr.de/nachrichten/info/16-Coronavirus-Update-Wir-brauchen-Abkuerzungen-"
        "bei-der-Impfstoffzulassung,podcastcoronavirus140.html",
        "2020-03-18",
    ),
    "phys.org.tool.html": (
        "https://phys.org/news/2019-10-flint-flake-tool-partially-birch.html",
        "2019-10-22",
    ),
    "pluralsight.com.python.html": (
        "https://www.pluralsight.com/tech-blog/managing-python-environments/",
        "2020-01-10",
    ),
    "reuters.com.parasite.html": (
        "https://www.reuters.com/article/us-awards-sag/parasite-scores-upset-at-sag-awards-"
        "boosting-oscar-chances-idUSKBN1ZI0EH",
        "2020-01-19",
    ),
    "salon.com.emissions.html": (
        "https://www.salon.com/2020/01/10/despite-everything-u-s-emissions-dipped-in-2019_partner/",
        "2020-01-10",
    ),
    "scmp.com.playbook.html": (
        "https://www.scmp.com/comment/opinion/article/3046526/taiwanese-president-tsai-ing-wens-"
        "political-playbook-should-be",
        "2020-01-20",
    ),
    "soundofscience.fr.1927.html": ("https://www.soundofscience.fr/1927", "2020-01-20"),
    "stackoverflow.com.rust.html": (
        "https://stackoverflow.blog/2020/01/20/what-is-rust-and-why-is-it-so-popular/",
        "2020-01-20",
    ),
    "theguardian.com.academics.html": (
        "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-"
        "second-class-citizens",
        "2020-01-20",
    ),
    "theplanetarypress.com.forestlands.html": (
        "https://www.theplanetarypress.com/2020/01/management-of-intact-forestlands-by-"
        "indigenous-peoples-key-to-protecting-climate/",
        "2020-01-17",
    ),
    "wikimediafoundation.org.turkey.html": (
        "https://wikimediafoundation.org/news/2020/01/15/access-to-wikipedia-restored-in-turkey-"
        "after-more-than-two-and-a-half-years/",
        "2020-01-15",
    ),
}

SUITES = (
    Suite("htmldate", "htmldate==1.4.0", HTMLDATE_PAGES),
    Suite("trafilatura", "trafilatura==1.0.0", TRAFILATURA_PAGES),
)
GROUPS = ("dev", "held", "fresh", "all")


def group(suite: Suite, name: str) -> str:
    """`dev`, `held` (htmldate's pages split by a hash of the file name) or `fresh`."""
    if suite.name != "htmldate":
        return "fresh"
    return "dev" if hashlib.sha1(name.encode()).digest()[0] % 2 == 0 else "held"


def obtain_pages(suite: Suite) -> Path:
    """A suite's test pages, downloaded once from PyPI (the sdist) into bench/out/."""
    if suite.cache.is_dir():
        return suite.cache
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"downloading the {suite.sdist} sdist from PyPI into {OUT} (once) ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    cmd += ["--no-binary", ":all:", suite.sdist, "-d", str(OUT)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    archive = OUT / (suite.sdist.replace("==", "-") + ".tar.gz")
    if done.returncode != 0 or not archive.is_file():
        reason = (done.stderr.strip().splitlines() or ["no archive"])[-1]
        sys.exit(f"bench_dates needs the {suite.sdist} sdist from PyPI (pip download): {reason}")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/cache/" in m.name and m.isfile()]
        tar.extractall(OUT, members=members, filter="data")
    return suite.cache


def page_of(url: str, html: bytes) -> Page:
    """A fetched page as the pipeline would see it, without a feed."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return Page(url, url, "bench", 200, html, "text/html", None, now, 0)


@dataclass
class Answer:
    """What one side said about one page."""

    day: str | None
    how: str = ""


def ours(url: str, html: bytes) -> Answer:
    """The day our extraction stores for the page, with its date_source and date_evidence."""
    try:
        article = extract_page(page_of(url, html))
    except ExtractError as exc:
        return Answer(None, f"no article ({exc})")
    day = article.published_at.strftime("%Y-%m-%d") if article.published_at else None
    evidence = getattr(article, "date_evidence", None)  # (absent before migration 0014)
    return Answer(day, f"{article.date_source}/{evidence or '-'}")


def theirs_metadata(url: str, html: bytes) -> Answer:
    """trafilatura.extract_metadata's date."""
    doc = trafilatura.extract_metadata(html.decode("utf-8", "replace"), default_url=url)
    return Answer(doc.date if doc is not None else None)


def theirs_bare(url: str, html: bytes) -> Answer:
    """The date of trafilatura.bare_extraction with its metadata pass."""
    doc = trafilatura.bare_extraction(html.decode("utf-8", "replace"), url=url, with_metadata=True)
    return Answer(getattr(doc, "date", None) if doc is not None else None)


SIDES = {"ours": ours, "trafilatura metadata": theirs_metadata, "trafilatura bare": theirs_bare}


def score(suites: list[Suite], show: bool) -> None:
    """Right / found / pages for each side, per group and in all."""
    tally: dict[tuple[str, str], list[int]] = {}
    for suite in suites:
        cache = obtain_pages(suite)
        for name, (url, known) in sorted(suite.known.items()):
            html = (cache / name).read_bytes()
            where = group(suite, name)
            row = [f"{where:5} {name:40} {known}"]
            for side, run in SIDES.items():
                answer = run(url, html)
                for key in (where, "all"):
                    counts = tally.setdefault((side, key), [0, 0, 0])
                    counts[0] += answer.day == known
                    counts[1] += answer.day is not None
                    counts[2] += 1
                mark = "ok" if answer.day == known else ("--" if answer.day is None else "XX")
                row.append(f"{mark} {answer.day or '-':10} {answer.how}".rstrip())
            if show:
                print(" | ".join(row))
    pages = sum(len(s.known) for s in suites)
    print(
        f"\n{pages} pages with a known day: " + ", ".join(f"{s.sdist} tests/cache" for s in suites)
    )
    groups = [g for g in GROUPS if ("ours", g) in tally]
    print(f"{'':22} " + " ".join(f"{g:>16}" for g in groups) + "   (right / found / pages)")
    for side in SIDES:
        cells = ["{:>4} / {:>3} / {:>3}".format(*tally[(side, g)]) for g in groups]
        print(f"{side:22} " + " ".join(f"{c:>16}" for c in cells))


def timing() -> None:
    """ms/page of extract_page over the realworld/aeb pages, one run, with the load average."""
    files = sorted(AEB.glob("html/*.html.gz"))
    if not files:
        print(f"no realworld/aeb pages under {AEB}: timing skipped")
        return
    pages = [
        page_of(f"https://example.org/{f.name[:-8]}", gzip.decompress(f.read_bytes()))
        for f in files
    ]
    extract_page(pages[0])  # imports and first-call caches out of the figure
    started = time.perf_counter()
    for page in pages:
        with contextlib.suppress(ExtractError):
            extract_page(page)
    elapsed = time.perf_counter() - started
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nextract_page over {len(pages)} realworld/aeb pages: "
        f"{1000 * elapsed / len(pages):.2f} ms/page (one run; load average {load})"
    )


def main() -> None:
    """Parse arguments and print the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--show", action="store_true", help="list every page")
    parser.add_argument("--timing", action="store_true", help="also time extract_page")
    parser.add_argument(
        "--suite",
        choices=[s.name for s in SUITES],
        action="append",
        help="only these suites (default: all)",
    )
    args = parser.parse_args()
    score([s for s in SUITES if not args.suite or s.name in args.suite], args.show)
    if args.timing:
        timing()


if __name__ == "__main__":
    main()
