"""Identity questions ("Who is Alvarez?", "What is Brightwater Marine?") are answered with the
sentence that says who or what that is, not with any other sentence that names it."""

from __future__ import annotations

import pytest

from qa import Assistant
from qa.answerers.features import describes, identity_subject, mentions, question_type
from qa.chain import resolve_identity_pronoun
from qa.retrieval import search
from tests.conftest import REPO, one_document_assistant
from tests.test_answering import assert_exact

TEXT = """Harbour board approves Kelmouth marina expansion

KELMOUTH — The Kelmouth harbour board on Monday approved a £12 million expansion of the town marina, adding 140 berths by 2028.
The town needs the berths, Alvarez said after the vote, because visiting yachts are turned away every weekend in summer.
The board’s chair, Rosa Alvarez, 58, a former ferry captain, said work would start in April.
Local fishermen oppose the plan.
Their association is led by Tam Oakes, who says the new pontoons will narrow the channel used by trawlers.
Oakes said the association would appeal to the regional planning office within a month.
The contract went to Brightwater Marine, a Dunmore company that built the marinas at Port Ellis and Saltby.
Brightwater Marine will bring about 30 workers to Kelmouth for the two years of construction.
"""


@pytest.fixture(scope="module")
def marina(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return one_document_assistant(tmp_path_factory, "kelmouth_marina.txt", TEXT)


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("Who is Alvarez?", ("Alvarez",)),
        ("Who's Rosa Alvarez?", ("Rosa", "Alvarez")),
        ("who was Dr. Tam Oakes", ("Tam", "Oakes")),
        ("What is Brightwater Marine?", ("Brightwater", "Marine")),
        ("What is the Royal Bank of Tervosa?", ("Royal", "Bank", "Tervosa")),
        ("What does FARC stand for?", ("FARC",)),
        # not identity questions: they ask for a name, or for something about the name
        ("Who is the chair of the board?", ()),
        ("What was Alvarez's reason?", ()),
        ("Who is Alvarez meeting on Monday?", ()),
    ],
)
def test_identity_subject(question: str, subject: tuple[str, ...]) -> None:
    assert identity_subject(question) == subject
    assert (question_type(question) == "identity") == bool(subject)


def test_describes_and_mentions() -> None:
    assert describes(("Ferrante",), "Interior Minister Paul Ferrante said an initial $25 million had been approved.")
    assert describes(("Okonjo",), "“It is a lot to ask,” said Ben Okonjo, a senior analyst at Tallis Insights.")
    assert describes(("Valley", "Electric"), "About 11,000 homes were without power, according to the utility Valley Electric.")
    assert describes(("Greve",), "The harbour master, Tomas Greve, said his office had advised every operator to stay in port.")
    # naming someone is not saying who they are
    assert not describes(("Tarrant",), "Tarrant, who left the museum in January, said the repair would have cost $40,000.")
    assert not describes(("Strauss",), "Strauss, 67, brokered the agreement that ended a rail strike.")
    assert not describes(("Greve",), "Greve, said nothing.")
    assert not describes(("Coale",), "Yesterday Coale told reporters that prisoners had been released.")
    # a determiner, then words, then the name is not always a noun in apposition
    assert not describes(("Maduro",), "The tensions between the Trump administration and Maduro stem from the fact.")
    assert not describes(("Maduro",), "While assuring that his country would accept Maduro as a resident, he said.")
    assert describes(("Newsmax",), "Lukashenko sat down for an interview with the American conservative outlet Newsmax.")
    # an acronym with its expansion, either way round
    assert describes(("FARC",), "ties to groups such as the Revolutionary Armed Forces of Colombia (FARC), the Tren de Aragua")
    assert describes(("FARC",), "FARC (Revolutionary Armed Forces of Colombia) signed the accord.")
    assert not describes(("FARC",), "He met FARC leaders in Havana.")
    # another person with the same surname is not a mention
    assert not mentions(("Marcus", "Oyelaran"), "(Marta Oyelaran / Vantry Courier)")
    assert mentions(("Marcus", "Oyelaran"), "Oyelaran said sales rose.")
    assert mentions(("Oyelaran",), "Chief executive Marcus Oyelaran credited the private-label range.")
    # an organisation is named by its distinctive word, not by "Foundation"
    assert not mentions(("Restwell", "Foundation"), "The Medwin Foundation paid for the study.")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who is Alvarez?", "The board’s chair, Rosa Alvarez, 58, a former ferry captain"),
        ("Who is Tam Oakes?", "Their association is led by Tam Oakes"),
        ("What is Brightwater Marine?", "Brightwater Marine, a Dunmore company"),
    ],
)
def test_identity_answer_is_the_introduction(marina: Assistant, question: str, expected: str) -> None:
    answer = marina.ask(question)
    assert not answer.abstained, answer.answerability
    assert expected in answer.answer
    assert_exact(marina, answer)


def test_identity_of_someone_never_mentioned_abstains(marina: Assistant) -> None:
    assert marina.ask("Who is Jonas Pikeworth?").abstained


@pytest.fixture(scope="module")
def twenty_articles(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    a = Assistant.open(tmp_path_factory.mktemp("train-docs") / "idx")
    a.add([REPO / "train" / "docs"])
    return a


def test_a_name_only_query_finds_the_one_passage_that_names_it(twenty_articles: Assistant) -> None:
    """MiniLM's vector of "Who is Okonjo?" is noise: among 195 passages the dense ranking puts
    the only one naming Okonjo outside its top 30, so rank fusion left it at 15th."""
    s = twenty_articles.settings
    r = search(twenty_articles.snapshot(), twenty_articles.embedder, "Who is Okonjo?", k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k)
    assert any("Okonjo" in r.snapshot.chunk_text(h.chunk) for h in r.hits)
    answer = twenty_articles.ask("Who is Okonjo?")
    assert "a senior analyst at Tallis Insights" in answer.answer
    assert_exact(twenty_articles, answer)
    # typed in lower case: the passage that holds the word says it is a name
    r = search(r.snapshot, twenty_articles.embedder, "who is okonjo", k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k)
    assert any("Okonjo" in r.snapshot.chunk_text(h.chunk) for h in r.hits)
    assert "a senior analyst at Tallis Insights" in twenty_articles.ask("who is okonjo").answer


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who is Maduro?", "his Venezuelan counterpart Nicolás Maduro"),
        ("Who is Coale?", "Trump’s special envoy for Belarus John Coale"),
        ("Who is María Corina Machado?", "former lawmaker and Nobel Peace Prize winner María Corina Machado"),
        ("What does FARC stand for?", "Revolutionary Armed Forces of Colombia (FARC)"),
    ],
)
def test_identity_in_the_seed_article(seed_assistant: Assistant, question: str, expected: str) -> None:
    """In a real article the sentences that only name Maduro ("Maduro is not the kind of man
    to leave everything and flee.") match the question better than the one that introduces
    him; the description must still come first."""
    answer = seed_assistant.ask(question)
    assert not answer.abstained
    assert expected in answer.answer
    assert_exact(seed_assistant, answer)


def test_who_is_he_after_a_question_about_someone() -> None:
    assert resolve_identity_pronoun("Who is he?", [("What did Coale say about prisoners?", "...")]) == "Who is Coale?"
    assert resolve_identity_pronoun("who's she", [("What did Governor Ilse Varnholt say?", "...")]) == "Who is Governor Ilse Varnholt?"
    # after a "who" question the person is the one the answer named
    assert resolve_identity_pronoun("Who is she?", [("Who chairs the board?", "The board is chaired by Rosa Alvarez. [1]")]) == "Who is Rosa Alvarez?"
    # nobody named, a bare title, or not about a person: left to the usual follow-up handling
    assert resolve_identity_pronoun("Who is he?", [("What happened next?", "Nothing.")]) is None
    assert resolve_identity_pronoun("Who is he?", [("What did the President say?", "...")]) is None
    assert resolve_identity_pronoun("What is it?", [("What did Coale tell Newsmax?", "...")]) is None
    assert resolve_identity_pronoun("Who is he?", []) is None


def test_who_is_he_in_a_conversation(seed_assistant: Assistant) -> None:
    first = seed_assistant.ask("What did Coale say about prisoners?")
    answer = seed_assistant.ask("Who is he?", history=[("What did Coale say about prisoners?", first.answer)])
    assert answer.question == "Who is he?"
    assert "Trump’s special envoy for Belarus John Coale" in answer.answer
    assert_exact(seed_assistant, answer)
