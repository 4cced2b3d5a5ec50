"""The classifier: relevance, stance, topics, actors, quotes, figures, taxonomy and versioning."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from monitor import classify as classify_mod
from monitor.classify import (
    classifier_version,
    classify,
    load_model,
    load_taxonomy,
    parse_taxonomy,
)
from monitor.errors import ConfigError
from monitor.models import Article, Classification, SeedFile
from monitor.pipeline import reclassify, run_ingest
from monitor.seeds import read_seed
from monitor.settings import ClassifySettings, SeedSettings, Settings, StorageSettings
from monitor.store import Store

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _seed(prefix: str) -> Article:
    path = next(p for p in sorted(SEEDS.iterdir()) if p.name.startswith(prefix))
    return read_seed(SeedFile(path), max_bytes=2_000_000)


def _run(text: str, title: str | None = None) -> Classification:
    return classify("test", title, text)


def _names(result: Classification) -> set[str]:
    return {e.name for e in result.entities}


# --- the seeds -----------------------------------------------------------------------------------

SEED_PREFIXES = ["000", "001", "002", "003", "004"]


@pytest.mark.parametrize("prefix", SEED_PREFIXES)
def test_every_seed_is_relevant_with_evidence(prefix: str) -> None:
    article = _seed(prefix)
    result = classify(article.article_id, article.title, article.text)
    assert result.relevant
    assert 0.5 <= result.relevance_score <= 1.0
    sentences = result.evidence["sentences"]
    assert isinstance(sentences, list) and sentences, "a relevant article names its evidence"
    assert result.evidence["terms"]
    json.dumps(result.evidence)  # stored as JSON


# 000 relays analysts who argue the troops must go ("... has every right to ask them to leave,"
# Davies told RT): their words, reported, so the article's own voice is neutral. 001 argues it in
# its own voice ("Will Iraq Finally Manage to Expel the Uninvited US Military?").
@pytest.mark.parametrize(
    ("prefix", "stance"),
    [("000", "neutral"), ("001", "for_withdrawal"), ("004", "neutral")],
)
def test_seed_stance_follows_the_rubric(prefix: str, stance: str) -> None:
    article = _seed(prefix)
    assert classify(article.article_id, article.title, article.text).stance == stance


# Surface forms, written independently of the taxonomy: where one appears, the actor must be found.
ACTOR_SURFACES = {
    "Moqtada al-Sadr": r"\bSadr\b(?! City)",
    "Mike Pompeo": r"\bPompeo\b",
    "Adel Abdul Mahdi": r"\bAbd(?:ul|el)[- ]Mahdi\b",
    "Qassem Soleimani": r"\bSoleimani\b",
    "Abu Mahdi al-Muhandis": r"\bMuhandis\b",
    "Popular Mobilization Forces": (
        r"\bPMF\b|Mobili[sz]ation (?:Forces?|Units)|\bHashd?\b al-Shaabi"
    ),
}


@pytest.mark.parametrize("prefix", SEED_PREFIXES)
def test_seed_actors_are_found_where_they_appear(prefix: str) -> None:
    article = _seed(prefix)
    body = f"{article.title or ''}\n{article.text}"
    expected = {name for name, surface in ACTOR_SURFACES.items() if re.search(surface, body)}
    assert expected, "every seed names some of the actors"
    assert expected <= _names(classify(article.article_id, article.title, article.text))


def test_all_six_actors_are_found_in_seed_004_with_their_kinds() -> None:
    article = _seed("004")
    result = classify(article.article_id, article.title, article.text)
    kinds = {e.name: e.kind for e in result.entities}
    assert kinds["Moqtada al-Sadr"] == "person"
    assert kinds["Popular Mobilization Forces"] == "group"
    assert set(ACTOR_SURFACES) <= set(kinds)


def test_pompeo_quote_is_attributed_to_pompeo() -> None:
    article = _seed("000")
    result = classify(article.article_id, article.title, article.text)
    quote = next(
        q
        for q in result.quotes
        if q.quote.startswith(
            "We are confident that the Iraqi people want the United States to continue to be there"
        )
    )
    assert quote.speaker == "Mike Pompeo"


def test_seed_figures_capture_lawmakers_and_troops() -> None:
    result = classify("004", _seed("004").title, _seed("004").text)
    found = {(f.value, f.what) for f in result.figures}
    assert {(168, "lawmakers"), (5000, "troops"), (5200, "troops")} <= found
    lawmakers = next(f for f in result.figures if f.what == "lawmakers")
    assert "168 lawmakers" in lawmakers.sentence


def test_figure_with_a_stray_space_in_the_number() -> None:
    result = classify("003", _seed("003").title, _seed("003").text)
    assert (5000, "troops") in {(f.value, f.what) for f in result.figures}


def test_seed_004_topics_are_the_vote_and_at_most_three() -> None:
    article = _seed("004")
    topics = classify(article.article_id, article.title, article.text).topics
    assert "parliament_vote" in topics
    assert 1 <= len(topics) <= 3
    assert set(topics) <= set(classify_mod.TOPIC_NAMES)


@pytest.mark.parametrize("prefix", SEED_PREFIXES)
def test_every_seed_gets_one_to_three_topics_with_their_scores(prefix: str) -> None:
    article = _seed(prefix)
    result = classify(article.article_id, article.title, article.text)
    assert 1 <= len(result.topics) <= 3
    scores = result.evidence["topics"]
    assert isinstance(scores, dict)
    kept = [scores[name]["score"] for name in result.topics]
    assert kept == sorted(kept, reverse=True), "best topic first"
    # Every topic that holds somewhere is in the evidence, the dropped ones score lower.
    dropped = [v["score"] for name, v in scores.items() if name not in result.topics]
    assert all(d <= kept[0] for d in dropped)


@pytest.mark.parametrize("prefix", ["000", "002", "003", "004"])
def test_seeds_on_the_2020_vote_are_about_the_vote(prefix: str) -> None:
    article = _seed(prefix)
    assert "parliament_vote" in classify(article.article_id, article.title, article.text).topics


def test_seed_001_on_expelling_the_troops_is_about_talks_and_withdrawal() -> None:
    article = _seed("001")
    topics = classify(article.article_id, article.title, article.text).topics
    assert {"negotiations", "withdrawal_drawdown"} <= set(topics)


# --- hard negatives and their relevant counterparts -------------------------------------------

HARD_NEGATIVES = {
    "syria": (
        "Trump orders US troops out of northeast Syria",
        "President Donald Trump ordered the withdrawal of about 1,000 US troops from northeastern "
        "Syria, the defense secretary said, as a Turkish offensive widened. The pullout leaves the "
        "Kurdish-led forces exposed. The troops leaving Syria will relocate to western Iraq, "
        "officials said. A small garrison of US soldiers will remain at the al-Tanf base.",
    ),
    "germany": (
        "US to pull 12,000 troops out of Germany",
        "The Pentagon said it will withdraw about 12,000 troops from Germany, bringing 6,400 home "
        "and moving the rest to other European countries. Germany hosts many of the US troops who "
        "deploy to Iraq and Afghanistan. Berlin called the move regrettable.",
    ),
    "korea": (
        "Pentagon weighs cutting US forces in South Korea",
        "Officials said the Pentagon is considering withdrawing 4,500 of the 28,500 US troops "
        "stationed in South Korea. Lawmakers in Seoul warned that any withdrawal of US forces "
        "would weaken deterrence. The US has also reduced its presence in Iraq in recent years.",
    ),
    "afghanistan": (
        "US completes withdrawal from Afghanistan",
        "The last US troops left Kabul airport on Monday, ending twenty years of war in "
        "Afghanistan. The withdrawal of US forces was agreed with the Taliban in Doha. Generals "
        "who had served in Iraq and Afghanistan said the pullout was chaotic.",
    ),
    "iraqi_elections": (
        "Sudani's bloc leads Iraq's parliamentary election",
        "Iraqis voted on Tuesday in parliamentary elections, with turnout at 56 percent, the "
        "electoral commission in Baghdad said. Prime Minister Mohammed Shia al-Sudani's coalition "
        "came first. Forming a government could take months of talks among Shiite, Sunni and "
        "Kurdish blocs. Followers of Moqtada al-Sadr boycotted the vote.",
    ),
    "isis_attack": (
        "Islamic State attack kills five Iraqi soldiers near Kirkuk",
        "Islamic State militants killed five Iraqi soldiers in an overnight attack on an army post "
        "south of Kirkuk, security officials said. Iraqi forces, backed by US-led coalition air "
        "support, launched a search operation. Sleeper cells still attack security forces in Iraq.",
    ),
    "kurdistan_oil": (
        "Kurdistan oil exports resume through Turkey",
        "Oil exports from Iraq's Kurdistan region through the pipeline to Turkey resumed on "
        "Saturday, Iraq's oil ministry said, after a two-year halt. Baghdad and Erbil agreed on "
        "revenue sharing. The US State Department welcomed the deal.",
    ),
    "soleimani_funeral": (
        "Hundreds of thousands mourn Soleimani in Tehran",
        "Mourners filled the streets of Tehran for the funeral of Qassem Soleimani, the Quds Force "
        "commander killed in a US drone strike at Baghdad airport last week. Ayatollah Ali "
        "Khamenei led prayers over the coffin. The body will be buried in Kerman.",
    ),
    "syria_attack": (
        "Drone attack targets US base in eastern Syria",
        "A drone attack targeted the Conoco base housing US forces in eastern Syria on Sunday, a "
        "US official said. US forces in Syria have come under repeated attack from Iran-backed "
        "militias. The Islamic Resistance in Iraq claimed the attack. About 900 US troops are "
        "deployed in Syria.",
    ),
    "iran_talks": (
        "Iran and US hold nuclear talks in Oman",
        "Iranian and American negotiators held indirect talks in Muscat on Tehran's nuclear "
        "programme, focusing on uranium enrichment and sanctions. Iraq's foreign minister said "
        "Baghdad supported the talks. The next round will be held in Rome.",
    ),
}


@pytest.mark.parametrize("case", sorted(HARD_NEGATIVES))
def test_hard_negative_is_not_relevant(case: str) -> None:
    title, text = HARD_NEGATIVES[case]
    result = _run(text, title)
    assert not result.relevant, result.evidence
    assert result.topics == ()
    assert result.stance == "neutral"


def test_iran_talks_that_turn_to_the_troops_in_iraq_are_relevant() -> None:
    title, text = HARD_NEGATIVES["iran_talks"]
    text += (
        " Iraqi officials said the talks could also settle the future of the 2,500 US troops in "
        "Iraq, whose withdrawal Baghdad has demanded. Iran-backed militias have threatened to "
        "attack US forces at Ain al-Asad air base if they stay."
    )
    assert _run(text, title).relevant


def test_attack_on_a_base_hosting_us_troops_is_relevant() -> None:
    result = _run(
        "At least three rockets struck Ain al-Asad air base in western Iraq on Monday, causing no "
        "casualties, a coalition spokesman said. There was no claim of responsibility.",
        "Rockets hit Ain al-Asad air base",
    )
    assert result.relevant
    assert "attack_on_us_forces" in result.topics


def test_rocket_attack_on_ain_al_asad_is_first_an_attack_on_us_forces() -> None:
    result = _run(
        "Several rockets hit Ain al-Asad air base in Anbar province on Tuesday, where US troops "
        "are stationed, Iraqi security officials said. A US official said two American service "
        "members suffered minor injuries in the attack. Iran-backed militias have claimed "
        "dozens of attacks on US forces in Iraq and Syria since October. Iraq's government "
        "condemned the attack and said it would find those responsible. The attack came a week "
        "after Iraqi and US officials held a round of talks on the future of the coalition, and "
        "Prime Minister Sudani has said the withdrawal of coalition forces should be negotiated.",
        "Rocket attack targets US troops at Iraq's Ain al-Asad air base",
    )
    assert result.relevant
    assert result.topics[0] == "attack_on_us_forces"
    # The talks and the withdrawal are one passing sentence each: context, not the story.
    assert "negotiations" not in result.topics
    assert len(result.topics) <= 3


def test_one_passing_body_sentence_does_not_make_a_topic() -> None:
    result = _run(
        "Iraqi and US military officials opened talks in Baghdad on Sunday on the future of the "
        "US-led coalition in Iraq. The talks of the Higher Military Commission will assess the "
        "threat from ISIS and the capabilities of Iraqi forces, officials said. Both sides "
        "described the first meeting as constructive. The next round of talks is due in March. "
        "Officials from both countries said the discussions would take several months. In 2020 "
        "the Iraqi parliament voted for a resolution calling for the exit of foreign troops.",
        "Iraq and US open talks on coalition's future",
    )
    assert result.topics[0] == "negotiations"
    assert "parliament_vote" not in result.topics
    scores = result.evidence["topics"]
    assert isinstance(scores, dict) and scores["parliament_vote"]["qualified"] is False


def test_references_back_to_a_vote_add_to_it_only_once_it_holds() -> None:
    vote = (
        "Iraq's parliament voted on Sunday for a resolution to expel foreign troops. "
        "Washington criticised the resolution. The resolution is not binding on the government. "
        "Officials said the resolution would be studied."
    )
    held = _run(vote, "Iraq moves to expel US troops")
    scores = held.evidence["topics"]
    assert isinstance(scores, dict)
    assert scores["parliament_vote"]["continued"] == 3
    assert held.topics[0] == "parliament_vote"
    # Without a sentence on a parliament vote, "the resolution" alone is no vote.
    no_vote = _run(
        "US troops will stay in Iraq, the Pentagon said on Sunday. Officials said the resolution "
        "of the dispute over the base would take time. The resolution of the crisis depends on "
        "Baghdad, US officials in Iraq said.",
        "US troops to stay in Iraq",
    )
    assert "parliament_vote" not in no_vote.topics


def test_talks_on_ending_the_coalition_mission_are_relevant() -> None:
    result = _run(
        "Iraq and the United States began talks on Saturday on ending the mission of the US-led "
        "coalition in Iraq, Prime Minister Sudani's office said. The talks will set a timetable "
        "for the gradual withdrawal of coalition advisers.",
        "Iraq, US open talks on coalition's future",
    )
    assert result.relevant
    assert {"negotiations", "withdrawal_drawdown"} <= set(result.topics)


def test_syria_withdrawal_article_scores_below_an_iraq_one() -> None:
    syria = _run(HARD_NEGATIVES["syria"][1], HARD_NEGATIVES["syria"][0])
    iraq = _run(
        "President Trump ordered the withdrawal of about 1,000 US troops from Iraq, officials "
        "said. The pullout leaves 2,500 troops at bases in Baghdad and Erbil.",
        "Trump orders US troops out of Iraq",
    )
    assert iraq.relevant
    assert syria.relevance_score < iraq.relevance_score
    relevance = syria.evidence["relevance"]
    assert isinstance(relevance, dict) and relevance["elsewhere_mass"] > relevance["iraq_mass"]


def test_the_coalition_refers_back_to_the_us_led_coalition_only_once_named() -> None:
    named = _run(
        "The US-led coalition has fought ISIS since 2014. Baghdad wants the coalition to leave "
        "Iraq by 2025, and the coalition has agreed to a timetable, officials said."
    )
    assert named.relevant
    bloc = _run(
        "The coalition led by Sudani won the most seats in Baghdad. The coalition will now "
        "negotiate with Kurdish parties, officials in Iraq said."
    )
    assert not bloc.relevant


def test_a_us_withdrawal_from_iraq_counts_without_the_word_troops() -> None:
    result = _run(
        "Iraq's prime minister said a US withdrawal from Iraq should be negotiated calmly.",
        "Sudani: no rush on US exit",
    )
    assert result.relevant


def test_troops_in_a_country_the_taxonomy_does_not_know_do_not_add_up_to_iraq() -> None:
    result = _run(
        "Foreign forces must withdraw from Tripoli under the ceasefire, the UN envoy said. "
        "The withdrawal of foreign troops and mercenaries has been delayed for months. "
        "Turkish troops remain at the al-Watiya base. Russian forces are also present. "
        "Diplomats compared the situation with Iraq in 2003.",
        "UN urges exit of foreign forces",
    )
    assert not result.relevant


def test_relevance_threshold_is_applied() -> None:
    title, text = HARD_NEGATIVES["korea"]
    lenient = classify("x", title, text, relevance_threshold=0.0)
    strict = classify("x", title, text, relevance_threshold=1.0)
    assert lenient.relevant and not strict.relevant
    assert lenient.relevance_score == strict.relevance_score


# --- the failure patterns the issue saw on unseen coverage (synthetic texts) ---------------------

UNSEEN_ON_TOPIC = {
    "its troops": (
        "US to cut troops in Iraq",
        "The US has announced that it will withdraw more than a third of its troops from Iraq. "
        "The reduction will take place over the coming weeks, officials said, as Washington says "
        "Iraqi forces can increasingly handle the remnants of the Islamic State group.",
    ),
    "troop cut": (
        "Pentagon: troop level in Iraq to drop to 3,000",
        "The number of American service members in Iraq will fall to 3,000 this month, the head "
        "of US Central Command said on Wednesday. The cut had been expected for weeks. Officials "
        "in Baghdad welcomed the announcement.",
    ),
}
UNSEEN_OFF_TOPIC = {
    "NATO's own mission": (
        "NATO Mission Iraq extends its mandate",
        "NATO Mission Iraq will continue its non-combat advisory work with the Iraqi Ministry of "
        "Defence for another year, the alliance said on Thursday. The mission has about 500 "
        "personnel who advise Iraqi security institutions in Baghdad.",
    ),
    "the 2003 war": (
        "Twenty years after the invasion, Baghdad remembers",
        "Twenty years ago this week, US-led troops crossed into Iraq and within three weeks "
        "American soldiers had reached Baghdad and toppled the statue of Saddam Hussein. "
        "Residents recall the bombing of the capital and the looting that followed.",
    ),
    "another conflict": (
        "Turkish drone hits convoy near Sulaimani airport",
        "A Turkish drone struck a convoy near Sulaimani airport in Iraq's Kurdistan region on "
        "Friday. US military personnel were travelling with the convoy, which carried the "
        "commander of the Syrian Democratic Forces; nobody was hurt. Turkey considers the SDF an "
        "offshoot of the PKK and has struck targets in northern Iraq for years.",
    ),
    "one passing sentence": (
        "Iraq counts votes after parliamentary election",
        "Iraq's electoral commission began counting ballots on Tuesday after a parliamentary "
        "election with a turnout of 41 percent. The Coordination Framework and Prime Minister "
        "Mohammed Shia al-Sudani's list were expected to win the most seats. Moqtada al-Sadr, "
        "who boycotted the vote, repeated his call for the departure of US forces. Results are "
        "due within a week.",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSEEN_ON_TOPIC))
def test_unseen_patterns_that_are_about_the_troops_count(case: str) -> None:
    title, text = UNSEEN_ON_TOPIC[case]
    result = _run(text, title)
    assert result.relevant, result.evidence["relevance"]


@pytest.mark.parametrize("case", sorted(UNSEEN_OFF_TOPIC))
def test_unseen_patterns_that_are_about_something_else_do_not(case: str) -> None:
    title, text = UNSEEN_OFF_TOPIC[case]
    result = _run(text, title)
    assert not result.relevant, result.evidence["relevance"]


def test_an_op_ed_that_argues_in_its_own_voice_gets_its_side() -> None:
    result = _run(
        "The mission that took American soldiers back to Iraq in 2014 is done. The Islamic "
        "State no longer holds territory, and the troops who remain serve mainly as targets for "
        "militia rockets. Washington should bring them home, and it should do so on a timetable "
        "it sets itself rather than one dictated by the next attack.",
        "It is time to come home from Iraq",
    )
    assert result.relevant
    assert result.stance == "for_withdrawal"
    stance = result.evidence["stance"]
    assert isinstance(stance, dict) and stance["cues"] and stance["against"] == 0


def test_a_negated_cue_argues_the_other_side_and_a_report_of_one_stays_neutral() -> None:
    op_ed = _run(
        "The United States keeps about 2,500 troops in Iraq. Now is not the time to withdraw "
        "them: a premature withdrawal would hand Iraq to Iran. Washington should keep its "
        "forces in Iraq.",
        "America should not leave Iraq now",
    )
    assert op_ed.stance == "against_withdrawal"
    report = _run(
        'The United States keeps about 2,500 troops in Iraq. "Now is not the time to '
        'withdraw," the Kurdish official said. A militia leader said US forces must leave Iraq '
        "and warned of attacks.",
        "Kurdish official warns against US exit from Iraq",
    )
    assert report.relevant and report.stance == "neutral"


def test_an_article_labelled_relevant_gets_topics_and_a_stance_the_model_withheld() -> None:
    title, text = HARD_NEGATIVES["germany"]
    plain = classify("x", title, text)
    labelled = classify("x", title, text, labelled_relevant=True)
    assert not plain.relevant and plain.topics == ()
    assert labelled.relevance_score == plain.relevance_score  # the model's call is recorded
    assert not labelled.relevant and labelled.topics
    relevance = labelled.evidence["relevance"]
    assert isinstance(relevance, dict) and relevance["labelled_relevant"] is True
    # Even one that names nothing in Iraq (the model never weighs those).
    elsewhere = classify(
        "y",
        "Washington should bring its troops home",
        "The troops have no mission left. Washington should bring them home this year.",
        labelled_relevant=True,
    )
    assert elsewhere.relevance_score == 0 and elsewhere.stance == "for_withdrawal"


# --- stance --------------------------------------------------------------------------------------


def test_warning_that_withdrawal_brings_back_isis_is_against_withdrawal() -> None:
    result = _run(
        "Pulling the last American troops out of Iraq would be a grave mistake. A hasty "
        "withdrawal would allow ISIS to make a comeback, and it would hand Iraq to Iran. "
        "Washington should keep its forces in Iraq.",
        "Leaving Iraq now would be a gift to Iran",
    )
    assert result.relevant
    assert result.stance == "against_withdrawal"
    assert result.stance_score < 0


def test_arguing_that_the_troops_must_go_is_for_withdrawal() -> None:
    result = _run(
        "Two decades after the invasion, US troops remain in Iraq against the will of its "
        "parliament. The occupation must end: American forces should leave Iraq. These uninvited "
        "forces are no longer needed.",
        "Time for the occupiers to go home",
    )
    assert result.stance == "for_withdrawal"
    assert result.stance_score > 0


def test_reporting_a_vote_and_a_demand_is_neutral() -> None:
    result = _run(
        "Iraq's parliament voted on Sunday for a resolution calling for the expulsion of US troops "
        "from the country. Sadr said the troops should leave in a humiliating manner. Sunni and "
        "Kurdish lawmakers boycotted the session.",
        "Iraqi parliament votes to expel US troops",
    )
    assert result.relevant
    assert result.stance == "neutral"
    assert "parliament_vote" in result.topics


# Background sentences that argue nothing: they push the one cue of the stance tests below out of
# the head (the title and the first 300 characters), where a cue would count double.
_BACKGROUND = (
    "About 2,500 US troops are stationed in Iraq under an agreement with Baghdad. They advise "
    "Iraqi forces at bases in Anbar and Erbil. The coalition was formed in 2014 to fight the "
    "Islamic State group, which once held a third of the country. Rocket attacks on the bases "
    "rose after January 2020, and the two governments have held several rounds of talks. "
)


def _stance(result: Classification) -> dict[str, object]:
    evidence = result.evidence["stance"]
    assert isinstance(evidence, dict)
    return evidence


def test_an_opinion_piece_takes_its_side_on_one_cue_where_a_report_does_not() -> None:
    cue = "By keeping a small force at the bases, the United States can check Iran's militias."
    report = classify("r", "US troops in Iraq", _BACKGROUND + cue, labelled_relevant=True)
    assert report.stance == "neutral"
    assert _stance(report)["against"] == 1.0 and _stance(report)["opinion"] is False
    op_ed = classify(
        "o",
        "Opinion",
        _BACKGROUND + "I served two tours there, and our allies still ask me one question. " + cue,
        labelled_relevant=True,
    )
    evidence = _stance(op_ed)
    assert evidence["opinion"] is True and evidence["against"] == 1.0
    assert evidence["voice_finds"] == {"label": 1, "writer": 2, "we": 1}
    assert op_ed.stance == "against_withdrawal"


def test_an_opinion_piece_takes_no_side_from_a_cue_that_is_not_about_the_troops() -> None:
    result = classify(
        "o",
        "Opinion",
        _BACKGROUND + "\nI think we have to stay calm and keep reading the news.",
        labelled_relevant=True,
    )
    evidence = _stance(result)
    assert evidence["opinion"] is True
    cues = evidence["cues"]
    assert isinstance(cues, list) and [c["anchored"] for c in cues] == [False]
    assert result.stance == "neutral"


def test_an_answer_after_a_headline_colon_is_the_writers_own_a_speakers_words_are_not() -> None:
    own = _run(_BACKGROUND, "Iraq wants US troops out: why that is a good thing")
    assert own.stance == "for_withdrawal"
    speaker = _run(_BACKGROUND, "Militia leader: leaving Iraq is the right decision for the US")
    assert speaker.stance == "neutral"


def test_the_writer_who_says_i_believe_keeps_the_sentence_a_reported_belief_does_not() -> None:
    mine = _run(_BACKGROUND + "I believe Washington should keep its troops in Iraq.")
    assert _stance(mine)["against"] == 1.0
    theirs = _run(_BACKGROUND + "The minister believes Washington should keep its troops in Iraq.")
    assert _stance(theirs)["against"] == 0


def test_a_quotation_over_several_paragraphs_is_not_the_writers_voice() -> None:
    result = _run(
        "A senior Iraqi lawmaker spoke to reporters in Baghdad on Monday about US troops.\n"
        "\u201cThe Americans have overstayed their welcome. Washington should bring its troops "
        "home this year.\n"
        "\u201cIraq does not need foreign soldiers on its soil,\u201d he added.\n"
        "The Pentagon keeps about 2,500 troops in Iraq.",
        "Iraqi lawmaker speaks on US troops",
    )
    assert result.relevant
    assert result.stance == "neutral" and _stance(result)["for"] == 0


def test_an_analysis_that_quotes_both_sides_stays_neutral() -> None:
    result = _run(
        _BACKGROUND + 'Critics call the deployment "an occupation that must end." Supporters '
        'reply that "a hasty withdrawal would hand Iraq to Iran." Who is right? The answer '
        "depends on what Baghdad wants, and Baghdad has said different things at different times.",
        "What comes next for US troops in Iraq?",
    )
    assert result.relevant
    assert result.stance == "neutral"
    assert _stance(result)["for"] == 0 and _stance(result)["against"] == 0


@pytest.mark.parametrize(
    ("argument", "side"),
    [
        ("Washington should heed Baghdad's call and withdraw its troops.", "for_withdrawal"),
        ("The US presence in Iraq violates Iraqi sovereignty.", "for_withdrawal"),
        ("America has no vital interest in Iraq that 2,500 soldiers protect.", "for_withdrawal"),
        ("Keeping US troops in Iraq only invites more militia attacks.", "for_withdrawal"),
        ("The United States has no choice but to leave Iraq.", "for_withdrawal"),
        ("Iraq does not need American troops anymore.", "for_withdrawal"),
        ("Without US forces, the Islamic State would regroup in Anbar.", "against_withdrawal"),
        ("A US pullout from Iraq would open the door to Iran.", "against_withdrawal"),
        ("The US troops in Iraq are still needed to train Iraqi units.", "against_withdrawal"),
        ("Washington cannot afford to walk away from Iraq.", "against_withdrawal"),
        ("Now is not the time to pull US troops out of Iraq.", "against_withdrawal"),
    ],
)
def test_an_opinion_piece_argues_its_side_in_many_wordings(argument: str, side: str) -> None:
    result = classify(
        "o",
        "Opinion",
        _BACKGROUND + "\nI have followed this for years. " + argument,
        labelled_relevant=True,
    )
    assert _stance(result)["opinion"] is True
    assert result.stance == side, _stance(result)


def test_an_op_ed_against_the_presence_and_one_for_it_are_never_swapped() -> None:
    for_it = _run(
        _BACKGROUND + "Staying only invites more rocket attacks on American soldiers. The US "
        "presence in Iraq has become a liability, and there is no good reason to keep it.",
        "The case against staying in Iraq",
    )
    against_it = _run(
        _BACKGROUND + "Unfortunately, the withdrawal of 2011 let the Islamic State rise, and "
        "we must not repeat the mistake of 2011. The US presence in Iraq is a bulwark against "
        "Iran.",
        "The case for staying engaged in Iraq",
    )
    assert (for_it.stance, against_it.stance) == ("for_withdrawal", "against_withdrawal")


def test_voice_rules_are_taxonomy_data_another_language_can_add_to(tmp_path: Path) -> None:
    text = _BACKGROUND + "Ich denke, we have the answer. Washington should bring its troops home."
    assert _stance(_run(text, "Kommentar"))["opinion"] is False
    path = tmp_path / "taxonomy.toml"
    edited = _packaged_text().replace(
        "[stance.voice.label]",
        '[stance.voice.kommentar]\nterms = ["Kommentar"]\nline = true\nweight = 2.0\n\n'
        "[stance.voice.label]",
        1,
    )
    path.write_text(edited, encoding="utf-8")
    custom = classify("x", "Kommentar", text, taxonomy=load_taxonomy(path))
    evidence = _stance(custom)
    assert evidence["opinion"] is True
    assert evidence["voice_finds"] == {"kommentar": 1, "policy": 1}


def test_a_bad_stance_anchor_or_voice_rule_is_named() -> None:
    with pytest.raises(ConfigError, match=r"stance\.anchors.*'no_such_list'"):
        parse_taxonomy(
            _packaged_text().replace('anchors = ["us_forces"', 'anchors = ["no_such_list"', 1)
        )
    with pytest.raises(ConfigError, match=r"stance\.voice\.label\.often"):
        parse_taxonomy(
            _packaged_text().replace("[stance.voice.label]", "[stance.voice.label]\noften = 2", 1)
        )


# --- actors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surface", "canonical"),
    [
        ("Qassam Soleimani", "Qassem Soleimani"),
        ("Qasem Soleimani", "Qassem Soleimani"),
        ("Mr. Qassem", "Qassem Soleimani"),
        ("Hashd al-Shaabi", "Popular Mobilization Forces"),
        ("Hash al-Shaabi", "Popular Mobilization Forces"),
        ("Popular Mobilization Units", "Popular Mobilization Forces"),
        ("PMF", "Popular Mobilization Forces"),
        ("ISIL", "Islamic State"),
        ("Daesh", "Islamic State"),
        ("Islamic State group", "Islamic State"),
        ("Abdel Mahdi", "Adel Abdul Mahdi"),
        ("Abdul-Mahdi", "Adel Abdul Mahdi"),
        ("Moqtada al-Sadr", "Moqtada al-Sadr"),
        ("Abu Mahdi al-Muhandis", "Abu Mahdi al-Muhandis"),
        ("Mohammed Shia' al-Sudani", "Mohammed Shia al-Sudani"),
        ("Mustafa al-Kadhimi", "Mustafa al-Kadhimi"),
        ("Kata'ib Hezbollah", "Kataib Hezbollah"),
        ("Ain al-Asad", "Ain al-Asad Air Base"),
    ],
)
def test_alias_is_normalised_to_the_canonical_name(surface: str, canonical: str) -> None:
    result = _run(f"Officials said {surface} was mentioned in the report on Iraq on Sunday.")
    assert canonical in _names(result)


def test_aliases_of_one_actor_add_up_to_one_entity() -> None:
    result = _run(
        "Soleimani was killed in Baghdad. Qassem Soleimani led the Quds Force. "
        "Qassam Soleimani's funeral drew crowds. The PMF, or Hashd al-Shaabi, mourned him too."
    )
    by_name = {e.name: e for e in result.entities}
    assert by_name["Qassem Soleimani"].mentions == 3
    assert by_name["Popular Mobilization Forces"].mentions == 2
    assert by_name["Popular Mobilization Forces"].kind == "group"


def test_is_matches_only_as_the_capitalised_abbreviation() -> None:
    assert "Islamic State" not in _names(_run("This is what it is, and it is in Iraq."))
    assert "Islamic State" in _names(_run("The group known as IS still attacks Iraqi forces."))


def test_sadr_city_is_a_place_not_the_cleric() -> None:
    names = _names(_run("Rockets were fired from Sadr City in Baghdad on Sunday night."))
    assert "Sadr City" in names
    assert "Moqtada al-Sadr" not in names


# --- quotes --------------------------------------------------------------------------------------


def test_quote_followed_by_speaker_said() -> None:
    result = _run(
        "“I consider this a weak response to the American violation of Iraqi sovereignty,” "
        "Sadr said in a letter to parliament."
    )
    assert result.quotes[0].speaker == "Moqtada al-Sadr"
    assert result.quotes[0].quote.startswith("I consider this a weak response")


def test_speaker_told_programme_then_quote() -> None:
    result = _run(
        "Pompeo told Fox News Sunday: “We are confident the Iraqi people want the United States "
        "to continue to be there.”"
    )
    assert [q.speaker for q in result.quotes] == ["Mike Pompeo"]


def test_he_said_resolves_to_the_last_named_person() -> None:
    result = _run(
        "Iraqi legal expert Tareq Harb said the vote was binding on the government. "
        '"All that is needed now is time and political will," he said. '
        '"The presence of foreign troops can end by decision," Harb added.'
    )
    assert [q.speaker for q in result.quotes] == ["Tareq Harb", "Tareq Harb"]


def test_unattributed_quote_and_programme_titles() -> None:
    result = _run(
        "Protesters chanted “No to Iran, no to America!” in Diwaniyah. "
        "He told CBS’ “Face the Nation” that nothing had changed."
    )
    assert [q.quote for q in result.quotes] == ["No to Iran, no to America!"]
    assert result.quotes[0].speaker is None


# --- figures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "value", "what"),
    [
        ("There are nearly 5,000 U.S. troops in Iraq.", 5000, "troops"),
        ("About 5, 000 American forces still remain in Iraq.", 5000, "troops"),
        ("The 168 lawmakers present were three more than the quorum.", 168, "lawmakers"),
        ("Some 2,500 soldiers remain in the country.", 2500, "troops"),
        ("U.S. troops, 5000, in Iraq are there on invitation.", 5000, "troops"),
        ("The attack wounded 11 American service members at the base.", 11, "troops"),
        ("Three American soldiers were killed in the drone attack.", 3, "casualties"),
    ],
)
def test_figures_are_captured(sentence: str, value: float, what: str) -> None:
    figures = _run(sentence).figures
    assert (value, what) in {(f.value, f.what) for f in figures}
    assert all(f.sentence == sentence for f in figures)


def test_years_are_not_figures() -> None:
    assert _run("In 2014 troops arrived in Iraq to fight the Islamic State.").figures == ()


# --- taxonomy and versions -----------------------------------------------------------------------


def _packaged_text() -> str:
    return resources.files("monitor.classify").joinpath("taxonomy.toml").read_text(encoding="utf-8")


def test_user_taxonomy_edit_changes_version_and_behaviour(tmp_path: Path) -> None:
    packaged = load_taxonomy()
    path = tmp_path / "taxonomy.toml"
    edited = _packaged_text().replace(
        '"Mike Pompeo", "Michael Pompeo", "Pompeo"]',
        '"Mike Pompeo", "Michael Pompeo", "Pompeo", "the Secretary of State"]',
    )
    assert edited != _packaged_text()
    path.write_text(edited, encoding="utf-8")
    custom = load_taxonomy(path)
    assert custom.version != packaged.version
    assert custom.version.startswith(classify_mod.CODE_VERSION)
    text = "The Secretary of State said US troops would stay in Iraq."
    assert "Mike Pompeo" in _names(classify("x", None, text, taxonomy=custom))
    assert "Mike Pompeo" not in _names(classify("x", None, text))
    assert classify("x", None, text, taxonomy=custom).version == classifier_version(custom)
    assert classifier_version(custom).startswith(custom.version + "+rel.")


def test_topic_ranking_is_set_in_the_taxonomy(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    edited = _packaged_text().replace("max_topics = 3", "max_topics = 1", 1)
    assert edited != _packaged_text()
    path.write_text(edited, encoding="utf-8")
    custom = load_taxonomy(path)
    article = _seed("001")
    wide = classify(article.article_id, article.title, article.text)
    narrow = classify(article.article_id, article.title, article.text, taxonomy=custom)
    assert len(wide.topics) >= 2
    assert narrow.topics == wide.topics[:1]
    assert narrow.version != wide.version


def test_a_bad_topic_ranking_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_text(
        _packaged_text().replace("keep_ratio = 0.5", "keep_ratio = 0.5\nkeep_all = true", 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"topic_ranking\.keep_all"):
        load_taxonomy(path)


def test_comment_only_edit_keeps_the_version(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_text("# my notes\n" + _packaged_text(), encoding="utf-8")
    assert load_taxonomy(path).version == load_taxonomy().version


def test_taxonomy_file_is_reread_after_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_text(_packaged_text(), encoding="utf-8")
    first = load_taxonomy(path)
    assert load_taxonomy(path) is first  # cached
    path.write_text(_packaged_text().replace("threshold = 0.5", "threshold = 0.6"), "utf-8")
    assert load_taxonomy(path).version != first.version


def test_bad_taxonomy_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"relevance\.surprise"):
        parse_taxonomy(_packaged_text().replace("[relevance]", "[relevance]\nsurprise = 1"))
    with pytest.raises(ConfigError, match="bad pattern"):
        parse_taxonomy(_packaged_text().replace('"withdraw",', '"re:(unclosed",', 1))
    with pytest.raises(ConfigError, match="not found"):
        load_taxonomy(tmp_path / "missing.toml")


def test_version_records_a_non_default_threshold() -> None:
    tax = load_taxonomy()
    model = load_model()
    default = f"{tax.version}+rel.{model.digest}"
    assert classifier_version(tax, model.threshold) == default
    assert classifier_version(tax, 0.7) == default + "+t0.7"
    assert default == classify_mod.CLASSIFIER_VERSION


def test_nothing_is_loaded_at_import_time() -> None:
    code = (
        "import monitor.classify as c; print(c._packaged.cache_info().currsize); "
        "c.classify('x', None, 'US troops in Iraq'); print(c._packaged.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", "1"]


def test_word_lists_are_read_on_first_use_not_at_import() -> None:
    code = (
        "import monitor.classify as c; from monitor.classify import wordlists as w; "
        "print(w.words.cache_info().currsize); "
        "c.classify('x', None, 'Gen. Smith said 5,000 US troops would stay in Iraq.'); "
        "print(w.words.cache_info().currsize > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", "True"]


# --- reclassify over a real store ----------------------------------------------------------------


def _settings(tmp_path: Path, taxonomy: Path | None = None) -> Settings:
    seeds = tmp_path / "seeds"
    if not seeds.exists():
        shutil.copytree(SEEDS, seeds)
    return Settings(
        storage=StorageSettings(db=tmp_path / "monitor.duckdb"),
        seeds=SeedSettings(dirs=[seeds]),
        classify=ClassifySettings(taxonomy=taxonomy),
    )


def test_reclassify_after_a_taxonomy_edit_redoes_only_outdated(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    run_ingest(settings, fetch=False)
    store = Store(settings.storage.db)
    versions = {v for (v,) in store.query("SELECT version FROM core.classifications")}
    assert versions == {classifier_version()}
    assert reclassify(store, settings, only_outdated=True) == 0

    edited = tmp_path / "taxonomy.toml"
    edited.write_text(_packaged_text().replace("saturation = 1.4", "saturation = 1.5"), "utf-8")
    settings = _settings(tmp_path, taxonomy=edited)
    assert reclassify(store, settings, only_outdated=True) == 5
    new_versions = {v for (v,) in store.query("SELECT version FROM core.classifications")}
    assert new_versions == {classifier_version(load_taxonomy(edited))}
    assert reclassify(store, settings, only_outdated=True) == 0
    assert reclassify(store, settings) == 5
    rows = store.query("SELECT count(*) FROM entities WHERE name = 'Mike Pompeo'")
    assert rows[0][0] >= 2  # entities rewritten, not duplicated or lost
    speakers = store.query("SELECT speaker FROM quotes WHERE quote LIKE 'We are confident%'")
    assert speakers == [("Mike Pompeo",)]


def test_ingest_classifies_with_the_configured_taxonomy_and_threshold(tmp_path: Path) -> None:
    edited = tmp_path / "taxonomy.toml"
    edited.write_text(_packaged_text().replace("saturation = 1.4", "saturation = 1.6"), "utf-8")
    settings = _settings(tmp_path, taxonomy=edited).model_copy(
        update={"classify": ClassifySettings(taxonomy=edited, relevance_threshold=0.99)}
    )
    run_ingest(settings, fetch=False)
    rows = Store(settings.storage.db).query(
        "SELECT DISTINCT version, relevant FROM core.classifications"
    )
    expected = classifier_version(load_taxonomy(edited), 0.99)
    assert {version for version, _ in rows} == {expected}
    assert expected.endswith("+t0.99")


def test_a_us_strike_is_not_an_attack_on_us_forces() -> None:
    result = _run(
        "Iraq's parliament voted to expel US troops after a US drone strike killed Qassem "
        "Soleimani in Baghdad, an attack on Iraqi soil that US forces carried out on Friday.",
        "Iraq votes to expel US troops after US strike",
    )
    assert result.relevant
    assert "us_strike" in result.topics
    assert "attack_on_us_forces" not in result.topics


def test_news_that_names_resistance_groups_stays_neutral() -> None:
    result = _run(
        "Iran-backed resistance groups claimed a drone attack on US forces at Ain al-Asad air "
        "base in Iraq. The resistance groups have attacked US troops in Iraq more than 60 times "
        "since October. The Pentagon said US troops will stay in Iraq.",
        "Resistance groups claim attack on US base in Iraq",
    )
    assert result.relevant
    assert result.stance == "neutral"
