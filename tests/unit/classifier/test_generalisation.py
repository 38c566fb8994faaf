"""Phrasing families beyond the development set: each row is one family, in fresh wording."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.common import Label
from schemas.tagged_events import TaggedEventV1
from services.classifier.tagger import Tagger
from tests.unit.classifier.conftest import TagFn, make_item

V, C, K = Label.CEASEFIRE_VIOLATION, Label.CLOSURE, Label.CASUALTIES

LABEL_CASES: list[tuple[str, str, str, set[Label]]] = [
    (
        "a party accused by a long name of an act while the truce stands",
        "Zhob post",
        "Islamabad stands by the ceasefire but accused the Afghan Taliban's border brigades of firing on "
        "a post in Zhob.",
        {V},
    ),
    (
        "an act called an attack on the accord",
        "Sadda firing",
        "Elders said the firing on a jirga member's house in Sadda was an attack on the peace agreement.",
        {V},
    ),
    (
        "a gas explosion, not a bombing",
        "Boiler explosion at Hub factory kills three workers",
        "",
        set(),
    ),
    (
        "a mine accident",
        "Methane blast traps and kills seven miners in Duki",
        "",
        set(),
    ),
    (
        "a casualty word in quotation marks",
        "Chaman traders count losses",
        "Exporters said the long closure had been 'killing' small exporters.",
        set(),
    ),
    (
        "fighting named by its month while the truce holds",
        "Life returns to Angoor Adda a fortnight into the truce",
        "Two weeks after the ceasefire took effect, villagers who fled during the October clashes are "
        "rebuilding their homes.",
        set(),
    ),
    (
        "Roman Urdu: an accusation of breaking the truce",
        "Kabul ka Pakistan par Kunar mein jang bandi todne ka ilzam",
        "",
        {V},
    ),
    (
        "bodies handed back in an exchange",
        "Gaza truce holds as remains are swapped",
        "Israel handed back the bodies of 15 Palestinians through the Red Cross on Thursday, health "
        "officials said.",
        set(),
    ),
    (
        "accused of an act while standing by the truce",
        "Kurram post shelled",
        "Islamabad said it stood by the truce but accused Afghan border forces of firing mortars at a "
        "Kurram post late on Saturday.",
        {V},
    ),
    (
        "accusations about the days before the truce",
        "Old grievances",
        "Before the truce took hold, each side accused the other of shelling villages.",
        set(),
    ),
    (
        "a warning about any attack while the truce stands",
        "Doha ceasefire remains in force, Islamabad says",
        "Officials said Pakistan would hit back at any such attack from across the frontier.",
        set(),
    ),
    (
        "penalties set for whoever breaks a local accord",
        "Orakzai jirga sets bond for tribes",
        "Elders ruled that anyone found to have breached the peace accord would forfeit a bond of Rs5 "
        "million, and those who open fire on travellers would be handed to the police.",
        set(),
    ),
    (
        "a column recalling a bombing months before",
        "Column: the valley that kept its peace",
        "When a roadside bomb killed four soldiers near Wana in August, elders feared the worst. The "
        "tribes have kept their word since.",
        set(),
    ),
    (
        "a quoted metaphor",
        "Chaman shut: closure 'killing' Quetta's fruit trade, wholesalers say",
        "",
        {C},
    ),
    (
        "an attack days after elders signed the accord",
        "Tirah",
        "Gunmen fired on a jirga member's car near Bara on Monday, wounding two, a week after elders "
        "signed a peace accord in Peshawar.",
        {V, K},
    ),
    (
        "the first exchange since the truce",
        "Angoor Adda",
        "Border forces exchanged fire near Angoor Adda in the first major exchange since the Doha "
        "ceasefire, officials said.",
        {V},
    ),
    (
        "Roman Urdu: a violation of the ceasefire",
        "Bajaur mein golabari, jang bandi ki khilaf warzi: ISPR",
        "",
        {V},
    ),
    (
        "a party blamed for a violation",
        "Islamabad blames Kabul for truce violation near Angoor Adda",
        "",
        {V},
    ),
    ("the truce 'violated' after its term", "Truce violated as rockets hit Bajaur villages", "", {V}),
    (
        "lives saved are no toll",
        "Rescue 1122 praised",
        "Rescuers saved 30 lives after the bomb scare at the Peshawar bus stand, officials said.",
        set(),
    ),
    (
        "accusing a party of violating the Doha deal",
        "Kabul accuses Pakistan of violating Doha deal after drone strike in Paktika",
        "",
        {V},
    ),
    (
        "neither party calls it a breach",
        "Attack on Bannu checkpost during truce",
        "Militants attacked a police checkpost in Bannu on Sunday. Neither Islamabad nor Kabul called it "
        "a breach of the ceasefire.",
        set(),
    ),
    # a party saying the truce is intact while firing is reported: the truce stands, so the firing
    # breaches it; not when the firing is in footage the party dismissed
    (
        "truce intact while fire traded",
        "Exchange of fire at Angoor Adda",
        "Border forces traded fire at Angoor Adda overnight. Islamabad said its troops had only "
        "returned fire and that the ceasefire remained intact.",
        {V},
    ),
    (
        "dismissed clash footage, truce intact",
        "Spokesman dismisses clash reports",
        "The spokesman dismissed footage shared online that claimed to show new clashes in Bajaur, "
        "saying the truce was intact.",
        set(),
    ),
    # footage "purporting to show" strikes shows no act
    (
        "clip purporting to show strikes",
        "Fact check: strike clip is old",
        "A clip circulating online purporting to show fresh air strikes on Rafah after the truce took "
        "effect was filmed last year, the agency found.",
        set(),
    ),
    # acts counted since the truce ("twice since the ceasefire") happened while it stood
    (
        "fired twice since the ceasefire",
        "Asif says Afghan troops fired twice",
        "Afghan forces opened fire on border posts in Mohmand twice since the Doha ceasefire, the "
        "defence minister said.",
        {V},
    ),
    # accidents are no violence; a question about the hurt reports none
    (
        "weapon went off accidentally",
        "Sepoy hurt in Khyber",
        "A sepoy was injured when his weapon went off accidentally at a picket in Khyber, officials said.",
        set(),
    ),
    (
        "truck lost its brakes",
        "Truck falls into gorge",
        "Four men were killed when a truck lost its brakes and rolled into a gorge on the Khyber Pass road.",
        set(),
    ),
    (
        "whether anyone was hurt",
        "Shells land near Chaman post",
        "Two shells landed near a border post in Chaman on Friday; officials did not say whether anyone "
        "was hurt.",
        set(),
    ),
    # fighting said to have stopped is no act under the truce; fighting that flared again is
    (
        "fighting has stopped under the truce",
        "Quiet night in Parachinar",
        "Elders said the fighting around the bazaar had stopped after both tribes withdrew under the truce.",
        set(),
    ),
    (
        "clashes subsided under the ceasefire",
        "Markets reopen in Bajaur",
        "Clashes in the valley have subsided under the ceasefire, officials said.",
        set(),
    ),
    (
        "clashes subsided then flared again",
        "Bajaur flare-up",
        "Clashes in the valley subsided briefly but flared again on Sunday despite the ceasefire.",
        {V},
    ),
    (
        "no fighting reported while the truce stays in effect",
        "Istanbul round ends without a deal",
        "Neither side reported any clashes along the border, and both said the ceasefire remained in effect.",
        set(),
    ),
    (
        "headline present tense: open fire despite the truce",
        "Taliban fighters open fire on Pakistani posts in Bajaur despite ceasefire",
        "",
        {V},
    ),
    (
        "border forces traded fire during the truce",
        "Kurram border",
        "Pakistani and Afghan border forces traded fire near Kharlachi on Wednesday despite the ceasefire "
        "agreed in Doha, officials said.",
        {V},
    ),
    (
        "Roman Urdu: no one hurt",
        "Wana: police chowki par hamla paspa, koi zakhmi nahi",
        "",
        set(),
    ),
    (
        "Roman Urdu anniversary headline",
        "Peshawar APS hamle ki barsi: walidain aaj bhi insaaf ke muntazir",
        "Parents gathered at the school on Monday. Gunmen killed 147 people, most of them children, in the "
        "attack.",
        set(),
    ),
    (
        "a team's name in a match report",
        "Shaheed Club XI ne Bannu Cup jeet liya, Wazir Lions ko 5 wicket se shikast",
        "",
        set(),
    ),
    (
        "a rescue operation after a collapse is no violence",
        "Rescue operation ends in Hyderabad building collapse; 19 dead",
        "Rescuers pulled the last bodies from the rubble of the six-storey block that caved in on Sunday.",
        set(),
    ),
    (
        "soldiers among the victims of a crash",
        "Army helicopter crash in Mansehra kills six",
        "The helicopter went down in bad weather during a training flight, killing six people, including "
        "four soldiers and a pilot, the military said.",
        set(),
    ),
    (
        "armed people who act, beside a cause of no violence",
        "Landslide-hit Shangla",
        "Militants ambushed a police van on the landslide-hit road in Shangla, killing three policemen.",
        {K},
    ),
    (
        "fire in 'caught fire' is no violence",
        "Three die as fuel tanker overturns, catches fire",
        "A tanker overturned and caught fire on the highway near Kalat on Monday night, killing three "
        "people.",
        set(),
    ),
    (
        "look-back headline naming the old attack",
        "One year after Mastung bombing, families wait for compensation",
        "Relatives gathered outside the press club. The bombing killed about 60 people.",
        set(),
    ),
    (
        "agreement without 'the' names no truce",
        "Istanbul talks end without a deal",
        "The talks broke up on Friday without agreement, the minister said, adding that the ceasefire "
        "would hold.",
        set(),
    ),
    (
        "a breach of the 48-hour ceasefire",
        "Strikes kill eight in Paktika",
        "Pakistani air strikes killed eight civilians. Taliban officials called the strikes a breach of the "
        "48-hour ceasefire.",
        {V, K},
    ),
    # truce headlines: the toll of the fighting before, and a fresh attack dated to now
    (
        "truce headline, a long clause about the clashes before",
        "Kurram truce holds for a third day",
        "The clashes, which erupted over a disputed plot of land between two villages, killed at least 11 "
        "people before elders stepped in.",
        set(),
    ),
    (
        "truce headline, the attack that set off the fighting",
        "Kurram tribes agree to seven-day ceasefire",
        "The fighting flared after the Nov. 21 ambush on a passenger convoy near Bagan, which killed more "
        "than 40 people.",
        set(),
    ),
    (
        "truce headline, fresh clashes dated to now",
        "Kurram ceasefire extended by ten days",
        "Elders met in Kohat. Hours before the meeting, clashes in Pewar killed three people.",
        {K},
    ),
    (
        "bodies recovered from a river",
        "Bodies of nine tourists recovered",
        "Rescuers recovered the bodies of nine tourists who were swept away by a flash surge in the river.",
        set(),
    ),
    # accused of violations in a sentence naming the truce
    (
        "accused of violations",
        "Kabul says committed to truce, accuses Pakistan of violations in Kunar",
        "",
        {V},
    ),
    (
        "the fighting a truce ended is no act during it",
        "Traders count losses as Thai checkpoints stay closed",
        "The Chong Chom crossing remains shut to goods despite the ceasefire that ended the July fighting.",
        {C},
    ),
    (
        "a truce undermined",
        "Drone strike kills man near Nabatieh",
        "A drone strike killed a man near Nabatieh. President Aoun said continued strikes undermined the "
        "truce.",
        {V, K},
    ),
    # looking back: tolls of the past, a new attack told with its day
    (
        "anniversary with families of the dead",
        "Bajaur remembers convention victims a year on",
        "Party workers gathered to mark a year since the bombing. Speakers demanded compensation for the "
        "families of the dead and wounded.",
        set(),
    ),
    (
        "look-back headline, an old toll retold",
        "What the border war taught both capitals",
        "Pakistan's military said 23 soldiers were killed; Kabul put its own losses at nine.",
        set(),
    ),
    (
        "look-back headline, a new attack dated to now",
        "Ten years on, Peshawar remembers school attack victims",
        "Candles were lit at the school. Hours before the ceremony, militants attacked a police post in "
        "Bannu, killing one constable.",
        {K},
    ),
    (
        "an accident in an airdrop",
        "Five killed as aid pallets fall on crowd",
        "Five people were killed when parachutes failed to open during an airdrop over Gaza City.",
        set(),
    ),
    (
        "a possessive before a metaphor object",
        "War jitters kill Lebanon's tourist season",
        "Hotel bookings fell by half in June.",
        set(),
    ),
    (
        "traffic moving despite new checks",
        "Syria tightens entry rules at Masnaa",
        "New entry conditions took effect at Masnaa on Friday. Traffic continued to move, but queues formed "
        "as travellers were questioned.",
        set(),
    ),
    # a breach held back ("did not say ... had been broken")
    (
        "breach not alleged",
        "Nine militants killed in Kurram raid",
        "Security forces killed nine militants in Kurram. The statement did not say Afghan forces had taken "
        "part or that the ceasefire had been broken.",
        {K},
    ),
    # a whole war's toll under a truce headline, or one looking back
    (
        "war toll under a truce headline",
        "Ceasefire takes effect in southern Lebanon",
        "Displaced families began heading south. Officials say more than 3,000 people were killed in the "
        "conflict.",
        set(),
    ),
    (
        "war toll under a look-back headline",
        "A month on: the border war in numbers",
        "Monitors counted at least 40 civilians dead in the week of fighting.",
        set(),
    ),
    (
        "the wounded and the sick",
        "Egypt readies Rafah hospital",
        "Egypt said it was ready to receive the wounded and the sick from Gaza for treatment.",
        set(),
    ),
    (
        "deaths of cold and illness",
        "Children die in Torkham camp",
        "Two children died of exposure and pneumonia in the returnee camp at Torkham this week.",
        set(),
    ),
    (
        "a reopening with the closure it ended",
        "Torkham trade resumes after nine-day shutdown",
        "Trade resumed through Torkham on Friday. Traders lost $1 million a day while the border was shut. "
        "'The closure was killing us,' an exporter said.",
        set(),
    ),
    (
        "a new rule while traffic runs",
        "Chaman: passport and visa mandatory from November",
        "From November 1 people crossing will need a passport, ending years in which they could cross with "
        "only an identity card. The Friendship Gate will remain open as usual.",
        set(),
    ),
    (
        "an airspace ban extended",
        "Pakistan extends ban on Indian aircraft using its airspace",
        "",
        {C},
    ),
    # an attack a non-party group claimed during a truce, no breach alleged
    (
        "attack claimed by a group party to no truce",
        "Bomb hits checkpoint in Bannu",
        "Three policemen were killed when a bomb hit a checkpoint in Bannu during the ceasefire between "
        "Kabul and Islamabad; the Hafiz Gul Bahadur group claimed the attack.",
        {K},
    ),
    (
        "earthquake in Roman Urdu",
        "Paktika zalzala: 30 halak",
        "",
        set(),
    ),
    (
        "a date that dates the accord, not the attack",
        "Convoy attacked in Kurram",
        "Gunmen fired on a convoy near Bagan in breach of the peace accord signed in Kohat on January 1, "
        "police said, killing two drivers.",
        {V, K},
    ),
    (
        "a document-only rule with traffic moving",
        "Passport now required at Torkham",
        "Officials said tazkira-only entry had ended but traffic through the terminal was moving normally.",
        set(),
    ),
    # a truce named again, or breached in the passive
    (
        "breach of the agreement named earlier",
        "Shelling resumes in Sudan's El Obeid",
        "A humanitarian ceasefire took hold on Saturday. On Monday the army called the shelling of its "
        "positions a clear violation of the agreement.",
        {V},
    ),
    (
        "truce broken, passive",
        "Clashes in Kurram",
        "A ceasefire agreed by the elders on Sunday was broken within a day, the police chief said, after "
        "gunmen fired on a village.",
        {V},
    ),
    (
        "wire-style month abbreviation",
        "Afghan official says strike killed two",
        "He said the strike took place while the ceasefire agreed in Doha on Oct. 19 was still in force.",
        {V, K},
    ),
    # match reports: play told in violent words
    (
        "cricket report",
        "Spinner's hat-trick sinks Bangladesh in Asia Cup",
        "Bangladesh were bowled out for 88 in the Asia Cup semi-final; their top order was massacred "
        "inside the powerplay.",
        set(),
    ),
    (
        "football report",
        "Nepal shoot down Bhutan 3-1 in league opener",
        "Nepal scored twice after half-time. 'We were killed on the counter-attack,' Bhutan's goalkeeper "
        "admitted afterwards.",
        set(),
    ),
    (
        "players killed in a strike are no match report",
        "Two footballers among dead in Khost drone strike",
        "Five people, two of them league footballers, were killed when a drone struck a stadium car park "
        "in Khost; the tournament was suspended.",
        {K},
    ),
    # an earlier event's toll in a relative clause
    (
        "relative clause of an earlier attack",
        "Pakistan expels diplomats",
        "The steps come after the 17 November attack in Kurram, in which six people were killed.",
        set(),
    ),
    # truce over: later strikes are not breaches of it
    (
        "truce declared over",
        "Fighting resumes in Gaza after truce is declared over",
        "Air strikes killed 60 people across the strip on Monday, hours after Israel said the ceasefire "
        "had ended.",
        {K},
    ),
    (
        "truce expired",
        "Shelling resumes on the Thai-Cambodian frontier",
        "Artillery fire was reported near the temple on Sunday, a day after the ceasefire expired.",
        set(),
    ),
    # hostile act during a truce, in other words than the development set uses
    (
        "strike during truce",
        "Drone strike in south Lebanon during ceasefire kills a farmer",
        "A drone hit a tractor near Khiam, killing a farmer, during the ceasefire that began last month.",
        {V, K},
    ),
    # militant group not party to a local accord, no breach alleged
    (
        "militants after a local accord",
        "Gunmen kill four policemen in Tank weeks after jirga peace deal",
        "Militants attacked a police patrol in Tank district, killing four officers. The attack came a month "
        "after elders signed a peace deal in neighbouring Kurram.",
        {K},
    ),
    # denials of claims, at any distance in the clause
    (
        "denies reports of a toll",
        "Military rejects reports that 35 people including women died in the air raid on Barmal",
        "",
        set(),
    ),
    (
        "dismisses claims",
        "Kabul dismisses claims that Afghan fighters killed 19 Pakistani soldiers near the border posts",
        "",
        set(),
    ),
    # metaphors with a possessive or article before the object
    ("metaphor possessive", "Long queues at the frontier are killing our trade, say exporters", "", set()),
    ("metaphor article", "Sanctions are killing the tourism season in Swat", "", set()),
    # hypotheticals: weighing, planning
    ("weighs closure", "Islamabad weighs shutting Ghulam Khan to cargo", "", set()),
    ("plans closure", "Authorities plans to close the Kurram road during Muharram", "", set()),
    # economic subjects before "killing": a metaphor even with a person as object
    ("metaphor subject", "Fuel costs are killing small transporters in Quetta, union says", "", set()),
    (
        "metaphor subject quoted",
        "Sugar at Rs200 a kilo",
        "Retailers in Karachi said rising rents and prices were 'killing the middle class'.",
        set(),
    ),
    # the truce is said to be in force after its term: the item's hostile act breaches it
    (
        "truce in force after term",
        "Shelling hits villages near the Line of Control",
        "Artillery fire damaged homes in two villages overnight, officials said. The 2021 ceasefire "
        "understanding, which is still in force, bars such fire.",
        {V},
    ),
    ("truce in force, nothing hostile", "Ceasefire in Kurram remains in force as jirga meets", "", set()),
    # the past perfect of reported speech is today's news
    (
        "reported past perfect",
        "Clashes reported in Kurram's upper villages",
        "A hospital official told reporters that 14 people had been killed in the fighting on Sunday.",
        {K},
    ),
    (
        "past perfect after an earlier event",
        "Families of Tirah victims hold sit-in",
        "Relatives said the protest continued after militants had killed nine men in April.",
        set(),
    ),
    # a truce "shattered" after its term is a breach alleged
    ("truce shattered", "Bajaur truce shattered as mortar fire hits Mamund villages", "", {V}),
    # queues at a crossing said to stay open are no closure
    (
        "queues at an open crossing",
        "Power cut slows clearance, lorries queued at Ghulam Khan",
        "Dozens of lorries waited for hours on Tuesday; the crossing stayed open throughout, customs "
        "officials said.",
        set(),
    ),
    # Roman Urdu: "firing despite the ceasefire"
    ("roman urdu despite truce", "Bajaur mein jang bandi ke bawajood golabari, teen zakhmi", "", {V, K}),
    # an earlier toll in "a repeat of ..." is background
    (
        "repeat of earlier fighting",
        "Frontier quiet as truce enters third week",
        "Both sides want to avoid a repeat of last month's clashes, which killed dozens of people.",
        set(),
    ),
    # an earlier toll in a clause about what the news "followed"
    (
        "talks followed fighting",
        "Kabul and Islamabad agree to extend truce",
        "The agreement followed ten days of clashes along the frontier that killed scores of people.",
        set(),
    ),
    # an accord suspended is no closure of a route
    (
        "peace deal suspended",
        "Thailand suspends border peace declaration after mine blast",
        "Bangkok accused Phnom Penh of laying new mines in breach of the ceasefire.",
        {V},
    ),
    # a generic conditional on future breaches
    (
        "any party found to violate",
        "Truce monitors named",
        "The mechanism would fine any party found to violate the ceasefire, the mediators said.",
        set(),
    ),
    # court sentences carried out and road accidents are not casualties of violence
    ("executions", "Three men hanged in Kandahar after qisas verdicts", "", set()),
    ("coach plunges", "Nine lose their lives as coach plunges into ravine on KKH", "", set()),
    # deaths in a clause about fighting a truce ended, with the ending after them
    (
        "toll of fighting a truce ended",
        "Frontier calm holds",
        "The border clashes, which left dozens dead, ended with a ceasefire brokered by Qatar.",
        set(),
    ),
    # "the governing bodies of" is no casualty
    ("governing bodies", "Cricket boards meet", "The governing bodies of both boards met in Dubai.", set()),
    # new checks while trucks keep crossing are no closure; a ban lifted is a reopening only
    (
        "checks while traffic moves",
        "New visa checks at Angoor Adda",
        "Officials began checking visas on Monday; trucks continued to cross in both directions.",
        set(),
    ),
    # a non-violent cause right after or before the death word
    ("died of hunger", "Gaza hunger toll", "Six more people died of malnutrition, the ministry said.", set()),
    (
        "bus collision",
        "Returnees' bus crash",
        "At least 30 people were killed when a bus carrying returnees collided with a fuel tanker.",
        set(),
    ),
    ("hunger deaths", "Sudan", "Aid groups counted 40 hunger deaths in the camp this week.", set()),
    # a market metaphor with a determiner-like word before its object
    (
        "panic killed interest",
        "Stocks slide",
        "'Fear killed whatever buying interest was left,' a dealer said.",
        set(),
    ),
    # more objects and subjects of metaphors
    (
        "executed our plans",
        "Afghanistan beat Pakistan",
        "'We executed our plans well,' the captain said.",
        set(),
    ),
    (
        "duty is killing",
        "Cement exporters",
        "'This new duty is killing small dealers,' an exporter said.",
        set(),
    ),
    # "weeks into a ceasefire": the truce is in force
    (
        "weeks into a truce",
        "Strike on village",
        "A drone strike hit a village on Monday, six weeks into a ceasefire brokered by Qatar.",
        {V},
    ),
    # Roman Urdu: a lock on the gate
    ("roman urdu taala", "Ghulam Khan pe taala, trucks phanse", "", {C}),
    # closure wordings
    ("gate locked", "Travellers turned away as the Kharlachi gate is locked", "", {C}),
    ("roman urdu band", "Chaman border band, musafir pareshan", "", {C}),
    # condition on a reopening is not partial traffic
    (
        "reopen only after",
        "Iraq keeps border crossing with Syria closed",
        "Officials said the crossing would reopen only after the security review ends.",
        {C},
    ),
]


@pytest.mark.parametrize(("name", "title", "body", "expected"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_label_families(tag: TagFn, name: str, title: str, body: str, expected: set[Label]) -> None:
    assert set(tag(title, body).labels) == expected, name


FIGURE_CASES: list[tuple[str, str, str, int | None, int | None]] = [
    (
        "the wounded told in a separate statement of the same attack",
        "Drone strike on Kharkiv kills five",
        "Five people were killed when a drone hit a market, the governor said. The regional health "
        "department said in a separate statement that 31 people had been wounded.",
        5,
        31,
    ),
    (
        "taken to hospital with injuries",
        "Bomb at Bannu bus stand kills two",
        "Two people died at the scene. Nineteen others were rushed to the district hospital with injuries.",
        2,
        19,
    ),
    (
        "the killing of a number of people, as a noun",
        "Rights office verifies killings in Darfur town",
        "Investigators confirmed the killing of at least 56 people in the raid on the town.",
        56,
        None,
    ),
    (
        "a part of the toll told after it",
        "Monitor reports heavy losses in coastal fighting",
        "The monitor said 410 people had been killed in the fighting since Sunday. Among them were 260 "
        "civilians, most of them killed in their homes.",
        410,
        None,
    ),
    (
        "a count of persons and one more",
        "Mortar hits Kunar home, killing six children and a woman",
        "",
        7,
        None,
    ),
    (
        "officials putting the death toll at a later figure",
        "Clashes in Orakzai",
        "Three people were killed in the first exchange of fire on Monday. By evening the district "
        "police put the death toll at eight.",
        8,
        None,
    ),
    (
        "the same blast 'also wounded' more",
        "Roadside bomb kills four policemen in Dera Ismail Khan",
        "The device also wounded 11 people, most of them passers-by, police said.",
        4,
        11,
    ),
    (
        "Roman Urdu 'do' (two) before the wounded",
        "Turbat mein IED dhamaka: chaar sipahi shaheed, do zakhmi",
        "",
        4,
        2,
    ),
    (
        "the other side's toll is a claim",
        "Pakistan says 23 soldiers killed in border clashes",
        "Twenty-three soldiers were killed and 29 wounded, the military said. Kabul put the Pakistani "
        "toll at 58.",
        23,
        29,
    ),
    (
        "militants storm: no weather",
        "Militants storm police station in Tank, killing four",
        "Four policemen were killed in the assault. More than 12 others were wounded.",
        4,
        12,
    ),
    (
        "total over the operations told",
        "Militants, soldiers killed in two KP operations",
        "Troops killed four militants in North Waziristan. In a separate raid in Tirah, two soldiers were "
        "killed. The military said six people had died in the two operations.",
        6,
        None,
    ),
    (
        "one of them named is no breakdown",
        "Thirty militants killed in Kurram, military says",
        "Thirty militants were killed in the clashes, while four soldiers, including a captain, were "
        "martyred.",
        30,
        None,
    ),
    (
        "an age is no figure",
        "Shell hits street in Kherson",
        "A 62-year-old woman was wounded when a shell hit a residential street, but no one was killed.",
        0,
        1,
    ),
    (
        "a separate event's toll when nothing else has one",
        "Traders block Chaman road for a third day",
        "Traders kept the road to the crossing blocked on Monday. Separately, police said two men were "
        "killed and three wounded when a grenade hit a shop in the bazaar.",
        2,
        3,
    ),
    (
        "past perfect clause beside a new toll",
        "Israel strikes Gaza",
        "Israeli strikes killed at least 30 people on Sunday, after the army said a soldier had been "
        "killed in Rafah.",
        30,
        None,
    ),
    (
        "perished",
        "Rocket hits bus station in Khost",
        "Five passengers perished when a rocket struck the bus station in Khost city on Monday.",
        5,
        None,
    ),
    (
        "succumbed to wounds is no injury; still being treated is",
        "Toll from Parachinar convoy attack rises",
        "Three more passengers succumbed to their wounds overnight, officials said. Nine others are still "
        "being treated in Peshawar.",
        3,
        9,
    ),
    (
        "dash apposition after a total",
        "Blast in Mohmand: two policemen, a boy killed",
        "Three people \u2014 two policemen and a boy \u2014 were killed when a bomb went off in Mohmand.",
        3,
        None,
    ),
    (
        "comma apposition of persons after a total",
        "Shelling in Kunar: father and two sons die",
        "Three villagers, a farmer and his two sons, died when a shell hit their house in Kunar.",
        3,
        None,
    ),
    (
        "earlier weekday's attack in a relative clause",
        "Troops kill 14 militants in Khyber raid",
        "Security forces killed 14 militants on Friday who planned Tuesday's ambush that killed six "
        "soldiers, including a captain.",
        14,
        None,
    ),
    (
        "total after a list",
        "Strike on wedding party kills nine in Paktika",
        "Two brothers from Sharana died in the strike, relatives said; nine people lost their lives in all "
        "and four others were hurt.",
        9,
        4,
    ),
    ("two persons joined", "Shell wounds a man and a girl in Kurram village", "", None, 2),
    ("single person", "Gunmen shoot dead a shopkeeper in Bannu", "", 1, None),
    (
        "toll then injured after comma",
        "Quetta bombing toll reaches 15, more than three dozen wounded",
        "",
        15,
        36,
    ),
    ("range", "Between 30 and 35 killed in Darfur shelling", "", 30, None),
    ("word number", "Twenty-two soldiers killed in Khyber ambush", "", 22, None),
    (
        "appositive count",
        "Blast in Peshawar mosque",
        "Seven people, three of them children, were killed when a bomb went off at a mosque in Peshawar.",
        7,
        None,
    ),
    (
        "total before its breakdown",
        "Drone strikes kill four children in Kunar",
        "Drone strikes killed seven civilians, including four children, in Kunar's Dangam district.",
        7,
        None,
    ),
    (
        "injured after a comma and 'and'",
        "Bomb in Bannu market",
        "Six people died in the blast, among them three policemen, and 21 others were wounded, police said.",
        6,
        21,
    ),
    (
        "active verb's own object",
        "Shell hits house in Mohmand",
        "A shell landed on a house on Friday, killing three children and injuring their father.",
        3,
        1,
    ),
    (
        "wounded after a long clause",
        "Mortar hits wedding in Kunar",
        "Eight guests were killed, among them two brothers who had returned from Dubai for the wedding "
        "of their cousin, and 15 others were wounded, officials said.",
        8,
        15,
    ),
    (
        "the wounded counted elsewhere",
        "Toll from Bannu bombing rises to nine",
        "The toll rose to nine after two of the wounded died in hospital overnight. Another 23 people "
        "were wounded, police said.",
        9,
        23,
    ),
    ("sustained injuries", "Blast in Tank", "Six people sustained injuries when a bomb went off.", None, 6),
    (
        "bodies of",
        "Herders found dead after cross-border fire",
        "The bodies of two herders were recovered from a ravine after firing from across the border.",
        2,
        None,
    ),
    ("gunned down all", "Troops gun down attackers", "Soldiers gunned down all five attackers.", 5, None),
    (
        "toll with injured",
        "Kurram toll",
        "The toll from the week of fighting now stands at 40, with 95 people injured, a doctor said.",
        40,
        95,
    ),
    (
        "bodies and wounded",
        "Shooting near aid site",
        "The hospital received the bodies of 20 people and more than 60 wounded after the shooting.",
        20,
        60,
    ),
    (
        "breakdown after the total",
        "Two students among dead in Kunar strike",
        "Seven villagers, two of them students, were killed when a drone struck a house.",
        7,
        None,
    ),
    ("still in hospital", "Parachinar blast toll rises to nine; 40 in hospital", "", 9, 40),
    (
        "sides not added",
        "Three soldiers, 11 militants killed in Khyber fighting",
        "",
        3,
        None,
    ),
    (
        "a toll whose verb comes after a long 'from ...' phrase",
        "Lakki Marwat checkpost attack",
        "The death toll from the night-time raid on a checkpost outside Lakki Marwat city climbed to 7 "
        "by Friday morning.",
        7,
        None,
    ),
    (
        "the number of people killed, risen to",
        "Kurram clashes",
        "The number of people killed in three days of fighting between the two tribes has reached 19, "
        "the district administration said.",
        19,
        None,
    ),
    (
        "bringing the number of wounded to",
        "Second blast in Mastung market",
        "A second device went off as rescuers arrived, wounding four more and bringing the number of "
        "injured to 15. Two people were killed.",
        2,
        15,
    ),
    (
        "the number of (the) dead as a total",
        "Bajaur rally bombing",
        "Eleven people were killed on the spot. By evening the number of the dead had risen to 14.",
        14,
        None,
    ),
    (
        "claimed the lives of",
        "Suicide attack on Bannu cantonment",
        "The attack claimed the lives of seven people, while 14 others were wounded.",
        7,
        14,
    ),
    (
        "embraced martyrdom",
        "Four soldiers embraced martyrdom in Datta Khel exchange of fire: ISPR",
        "",
        4,
        None,
    ),
    (
        "bodies counted in a violent sentence",
        "Kech",
        "Levies recovered six bullet-riddled bodies after the gunfight near Turbat on Sunday.",
        6,
        None,
    ),
    (
        "a person and 'his' relative",
        "Dera Ismail Khan shooting",
        "Gunmen on a motorcycle shot dead a lawyer and his nephew outside a court on Tuesday.",
        2,
        None,
    ),
    (
        "a 'while' clause has a figure of its own",
        "Attack on Wana checkpost",
        "Five soldiers and two civilians were killed, while 14 others were wounded.",
        5,
        14,
    ),
    (
        "the number of wounded put at a range",
        "Drone strike on market",
        "At least 30 people were killed. Doctors put the number of wounded at 40 to 50.",
        30,
        40,
    ),
    (
        "the critically wounded who died are no injured figure",
        "Quetta blast toll rises to 31",
        "The toll rose to 31 as more of the critically wounded died. More than 60 people were injured.",
        31,
        60,
    ),
    (
        "the wounded who died are no injured figure",
        "Kohat police station attack",
        "The toll rose to five after two injured constables died in hospital on Sunday. Nine others were "
        "still being treated.",
        5,
        9,
    ),
    (
        "the victim named before the others",
        "Ambush near Sadda",
        "Gunmen ambushed the tehsildar's car near Sadda, wounding him and three guards.",
        None,
        4,
    ),
    (
        "him and his relative",
        "Elder shot dead in Landi Kotal",
        "Unidentified gunmen opened fire on a tribal elder outside his hujra, killing him and his nephew.",
        2,
        None,
    ),
    (
        "a person and 'N others'",
        "Kohat",
        "The roadside bomb killed a police inspector and two others near Kohat tunnel.",
        3,
        None,
    ),
    (
        "a titled person and 'N others' in a headline",
        "Blast kills deputy commissioner, three others in Zhob",
        "",
        4,
        None,
    ),
    (
        "lives counted",
        "Tank",
        "The suicide attack on the police line claimed 11 lives, police said.",
        11,
        None,
    ),
    ("martyrs counted", "Zhob checkpost attack: 4 martyrs, 7 injured", "", 4, 7),
    (
        "a score of",
        "Grenade attack on Peshawar market",
        "A score of shoppers were hurt, police said.",
        None,
        20,
    ),
    (
        "'a number of' is no total",
        "Clashes in Tirah",
        "A number of people were wounded in the clashes and three were killed.",
        3,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "title", "body", "killed", "injured"), FIGURE_CASES, ids=[c[0] for c in FIGURE_CASES]
)
def test_figure_families(
    tag: TagFn, name: str, title: str, body: str, killed: int | None, injured: int | None
) -> None:
    event = tag(title, body)
    assert Label.CASUALTIES in event.labels, name
    assert (event.figures.killed, event.figures.injured) == (killed, injured), name


CLOSURE_LABEL_CASES: list[tuple[str, str, str, bool]] = [
    (
        "a reopening as both sides agree to stop building",
        "Angoor Adda reopens as both sides agree to halt the disputed construction",
        "",
        False,
    ),
    (
        "'only' telling time, not traffic",
        "Aid for flood victims",
        "Many of the families had only recently come back from Pakistan across the border at Torkham.",
        False,
    ),
    (
        "a closure set for days to come",
        "Torkham to shut for Ashura from Friday to Sunday",
        "Traffic through the crossing will be suspended from Friday morning, customs officials said.",
        False,
    ),
    (
        "a blockade threatened from a later day",
        "Transporters' warning",
        "The goods transporters' union said it would block the Ghulam Khan crossing from Monday unless "
        "the new levy was withdrawn.",
        False,
    ),
    (
        "the threat of a closure",
        "Chaman freight rates up",
        "Lorries crossed at Chaman as usual, but the threat of a closure pushed up freight rates.",
        False,
    ),
    (
        "deportations halted are no route shut",
        "Pakistan halts deportations of Afghans through Torkham",
        "",
        False,
    ),
    ("a closure weighed", "Khyber officials weigh closing Torkham for Ashura", "", False),
    (
        "leave cancelled is no route shut",
        "Police on alert in Peshawar",
        "The city police chief set up more checkpoints and cancelled leave for all officers.",
        False,
    ),
    (
        "closure reports called false",
        "Chaman closure reports untrue, says Qila Abdullah administration",
        "Reports that the Chaman crossing had been sealed were untrue, officials said.",
        False,
    ),
    (
        "trains suspended",
        "Train services to Peshawar suspended after track blast",
        "",
        True,
    ),
    (
        "the closure a reopening ended, in the past perfect",
        "Kharlachi reopens",
        "Trade resumed at Kharlachi on Tuesday. The crossing had been shut since 2 May over a land dispute.",
        False,
    ),
    (
        "a strike that cuts the road",
        "Air strike near Masnaa cuts the road to Damascus",
        "",
        True,
    ),
    (
        "trains resumed",
        "Train services to Peshawar resume after repairs",
        "",
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "title", "body", "closure"), CLOSURE_LABEL_CASES, ids=[c[0] for c in CLOSURE_LABEL_CASES]
)
def test_closure_label_families(tag: TagFn, name: str, title: str, body: str, closure: bool) -> None:
    assert (Label.CLOSURE in tag(title, body).labels) == closure, name


CROSSING_CASES: list[tuple[str, str, str, dict[str, str]]] = [
    (
        "a ticker's label before the country whose airspace it is",
        "BREAKING: India shuts airspace to Pakistani carriers",
        "",
        {"Indian airspace": "closed"},
    ),
    (
        "'to' before a place, not a verb to come",
        "Fuel to Quetta resumes through Chaman after two-day halt",
        "",
        {"Chaman": "reopened"},
    ),
    (
        "one kind of traffic halted while another goes on using the route",
        "Wagah",
        "Passenger buses through Wagah were suspended on Monday. Trucks carrying Afghan transit goods "
        "continued to use the crossing.",
        {"Wagah": "partially_open"},
    ),
    (
        "a road named as where trucks wait",
        "Torkham",
        "Pedestrians were allowed to cross at Torkham on Tuesday. Goods traffic remains suspended, and "
        "lorries sit parked along the Khyber highway.",
        {"Torkham": "partially_open"},
    ),
    (
        "let through while other traffic is turned away",
        "Patients cross",
        "Border officials allowed patients to cross at Angoor Adda on Tuesday, while cargo lorries were "
        "turned away.",
        {"Angoor Adda": "partially_open"},
    ),
    (
        "one gate by two names, open one way and shut the other",
        "Pilgrims cross",
        "Officials let stranded pilgrims cross at Chaman on Sunday, but Bab-e-Dosti remained shut to cargo "
        "for a ninth day.",
        {"Chaman": "partially_open"},
    ),
    (
        "the main crossings between the two neighbours, unnamed",
        "Pakistan and Afghanistan to meet again in Istanbul",
        "Key border crossings between the two neighbours stay closed, traders said.",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    (
        "the Afghan side's town of the Chaman crossing",
        "Weesh gate opens for patients only",
        "",
        {"Chaman": "partially_open"},
    ),
    (
        "fighting, not traffic, resumes",
        "Shells land in Chaman as cross-border fighting resumes",
        "",
        {},
    ),
    (
        "the Afghan side's town named beside the other crossing",
        "Kabul tells importers to look elsewhere",
        "Goods traffic via Torkham and Spin Buldak has stayed suspended since mid-October, the "
        "chamber of commerce said.",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    (
        "life in the crossing's town, not the crossing",
        "Spin Boldak after the fighting",
        "Tea houses near Spin Boldak's main square have reopened and displaced families are returning.",
        {},
    ),
    (
        "shops reopening in a town that stands for a crossing",
        "Calm returns",
        "Pharmacies in Rafah have reopened after a week, residents said.",
        {},
    ),
    (
        "trucks roll through after a halt",
        "Aid convoys roll through Zikim after two-day halt",
        "",
        {"Zikim": "reopened"},
    ),
    (
        "a town standing for its crossing beside another crossing",
        "Gaza aid",
        "Trucks entered through Kissufim on Sunday; Rafah stays shut to travellers.",
        {"Rafah": "closed"},
    ),
    (
        "a strike that cuts the main road at a crossing",
        "Strike cuts main road at Jousieh crossing",
        "",
        {"Jousieh": "closed"},
    ),
    (
        "the text's own dash in a route built from it",
        "Sit-in",
        "Traffic on the Quetta\u2013Sukkur highway remained suspended for a third day.",
        {"Quetta\u2013Sukkur highway": "closed"},
    ),
    (
        "'the only link' is no restriction",
        "Kurram",
        "The Thall\u2013Parachinar road, the valley's only link with Peshawar, remains closed to all "
        "traffic.",
        {"Parachinar highway": "closed"},
    ),
    (
        "work resumed is no reopening",
        "Torkham shut again",
        "Pakistan closed Torkham on Friday after Afghan workers resumed building a post near the gate.",
        {"Torkham": "closed"},
    ),
    (
        "Roman Urdu: trade suspended, foot traffic continues",
        "Chaman: Muharram ke baais tijarat 3 din muattal, paidal aamad-o-raft jari",
        "",
        {"Chaman": "partially_open"},
    ),
    (
        "Roman Urdu road name",
        "Parachinar ki sarak teesre maheene bhi band",
        "",
        {"Parachinar highway": "closed"},
    ),
    (
        "a town's bare name standing for its crossing",
        "Egypt says Rafah will stay shut to travellers",
        "",
        {"Rafah": "closed"},
    ),
    (
        "the town itself, far from any state",
        "Gaza",
        "Israeli tanks moved into eastern Rafah overnight, residents said, and aid deliveries resumed in "
        "the north of the Strip.",
        {},
    ),
    (
        "a negated reopening is a closure",
        "Ghulam Khan",
        "The Ghulam Khan crossing has still not reopened, traders in Miranshah said.",
        {"Ghulam Khan": "closed"},
    ),
    (
        "opened for some, the rest 'still stopped'",
        "Kharlachi opened for patients, trade still stopped",
        "",
        {"Kharlachi": "partially_open"},
    ),
    (
        "the closure a reopening ended, by its length",
        "Torkham",
        "Trucks crossed Torkham again on Monday, ending a 19-day shutdown. Traders said the closure had "
        "cost them millions.",
        {"Torkham": "reopened"},
    ),
    (
        "an earlier partial opening in an 'after' clause",
        "Chaman",
        "Cargo traffic resumed at Chaman on Friday, two weeks after the gate was reopened to pedestrians "
        "only.",
        {"Chaman": "reopened"},
    ),
    (
        "no plan to close",
        "No plan to close Torkham, Khyber administration says",
        "",
        {},
    ),
    (
        "waiting times are no queue",
        "Torkham",
        "Customs said new scanners at Torkham would cut waiting times for trucks.",
        {},
    ),
    (
        "a building's block is no blockade",
        "Wana",
        "Soldiers cleared the hostel block at the college near the Angoor Adda crossing by evening.",
        {},
    ),
    (
        "the frontier's crossings named by the border",
        "Traders count losses as Pak-Afghan border crossings stay sealed",
        "",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    (
        "the neighbour's border named from one side",
        "Afghan border crossings stay shut for a third week as talks stall",
        "",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    (
        "closed again after a reopening",
        "Kurram road",
        "The Thall-Parachinar road, reopened for a food convoy on Tuesday, was closed again on Thursday.",
        {"Parachinar highway": "closed"},
    ),
    (
        "closed again for some traffic",
        "Chaman sealed again for trade, pedestrians allowed",
        "",
        {"Chaman": "partially_open"},
    ),
    (
        "a suspension while other traffic continues as usual",
        "Ghulam Khan",
        "Trade through Ghulam Khan was suspended for three days, while travellers continued as usual.",
        {"Ghulam Khan": "partially_open"},
    ),
    (
        "Roman Urdu: open only for some",
        "Torkham sirf mareezon ke liye khula, baaqi awaamad band",
        "",
        {"Torkham": "partially_open"},
    ),
    (
        "some traffic will be able to cross",
        "Angoor Adda",
        "Cargo movement through Angoor Adda will be halted over the holidays. Students will be able to "
        "cross, officials said.",
        {"Angoor Adda": "partially_open"},
    ),
    (
        "Syria's crossings with Turkey",
        "Bab al-Salameh reopens",
        "Turkey reopened the Bab al-Salameh crossing with Syria's Aleppo province on Monday.",
        {"Bab al-Salam": "reopened"},
    ),
    (
        "clause states in one sentence",
        "Border update",
        "Ghulam Khan and Kharlachi remain shut to all traffic, while Torkham lets through only returning "
        "refugees.",
        {"Ghulam Khan": "closed", "Kharlachi": "closed", "Torkham": "partially_open"},
    ),
    (
        "headline comma clauses",
        "Angoor Adda still sealed, Chaman open only for pedestrians",
        "",
        {"Angoor Adda": "closed", "Chaman": "partially_open"},
    ),
    (
        "reopening after a long cause clause",
        "Trade resumes at Ghulam Khan",
        "Ghulam Khan reopened for trucks and travellers on Monday, two weeks after firing between the two "
        "countries' border forces shut the crossing.",
        {"Ghulam Khan": "reopened"},
    ),
    (
        "traffic clause goes on about the same gate",
        "Border update",
        "Officials opened the Bab-e-Dosti gate at Chaman to returning refugees on Sunday, while cargo and "
        "trade stayed suspended.",
        {"Chaman": "partially_open"},
    ),
    (
        "reopening as a condition",
        "Sit-in blocks the Angoor Adda road",
        "Tribesmen blocked the road to Angoor Adda, halting all traffic, and said they would stay until "
        "traders were again allowed to cross with their cards.",
        {"Angoor Adda": "closed"},
    ),
    (
        "crossings of other theatres",
        "Aid convoys",
        "Sudan reopened the Adre crossing from Chad to aid convoys, and traffic resumed through Masnaa "
        "between Lebanon and Syria; Thailand kept the Chong Chom checkpoint sealed.",
        {"Adre": "reopened", "Masnaa": "reopened", "Chong Chom": "closed"},
    ),
    (
        "independent clauses joined by ', and'",
        "Kurram routes",
        "The Kharlachi crossing has been shut since the clashes, and the Parachinar road is open only to "
        "escorted convoys.",
        {"Kharlachi": "closed", "Parachinar highway": "partially_open"},
    ),
    (
        "pedestrians could still cross",
        "Eid break at the border",
        "Cargo through Angoor Adda was suspended for Eid, while people with papers could still cross.",
        {"Angoor Adda": "partially_open"},
    ),
    (
        "still moving in another sentence",
        "Protest at Kharlachi",
        "Pedestrian movement through Kharlachi stayed suspended on Friday. Goods trucks continued to cross, "
        "customs officials said.",
        {"Kharlachi": "partially_open"},
    ),
    (
        "reopened after what had kept it shut",
        "Ghulam Khan road open",
        "Traffic to Ghulam Khan was restored after elders ended a protest that had kept the road to the "
        "crossing closed for days.",
        {"Ghulam Khan": "reopened"},
    ),
    (
        "airspace barred to one country",
        "Airspace ban extended",
        "Pakistan issued a notice barring Indian airlines from Pakistani airspace for another month.",
        {"Pakistani airspace": "closed"},
    ),
    (
        "roman urdu opened but",
        "Angoor Adda khul gaya magar paidal musafiron ke liye ab bhi band",
        "",
        {"Angoor Adda": "partially_open"},
    ),
    (
        "suspended until further notice",
        "Aid halted",
        "An official said deliveries through Kerem Shalom would be suspended until further notice.",
        {"Kerem Shalom": "closed"},
    ),
    (
        "a reopening ending a closure",
        "Trade resumes",
        "Trade through Kharlachi resumed on Monday, ending a closure that began on 3 March.",
        {"Kharlachi": "reopened"},
    ),
    (
        "unnamed crossings, places on both sides",
        "Transit cargo piles up at Karachi port",
        "Containers bound for Kandahar are stuck because all land crossings into Afghanistan remain closed.",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    (
        "only before a verb is no restriction",
        "Guards trade fire at Ghulam Khan",
        "An army spokesman said troops at Ghulam Khan had only returned fire after a post was attacked.",
        {},
    ),
    (
        "only some traffic allowed",
        "Ghulam Khan partly open",
        "At Ghulam Khan only empty trucks were allowed through on Monday.",
        {"Ghulam Khan": "partially_open"},
    ),
    (
        "close to: near",
        "Mortar shell lands close to Torkham",
        "A shell landed in a field close to the Torkham crossing on Tuesday; no one was hurt.",
        {},
    ),
    (
        "a few turned back while traffic runs",
        "New permit rule at Chaman",
        "Some 40 drivers without permits were turned back at Chaman on Monday, while about 900 trucks "
        "crossed in both directions.",
        {},
    ),
    (
        "headline list before its state",
        "Eid: Torkham, Ghulam Khan to close for four days; Chaman reopens",
        "",
        {"Torkham": "closed", "Ghulam Khan": "closed", "Chaman": "reopened"},
    ),
    (
        "headline clause that tells a route nothing",
        "Rafah crossing stays shut as aid trucks roll in via Kerem Shalom",
        "Aid deliveries resumed through Kerem Shalom on Monday after a one-day suspension.",
        {"Rafah": "closed", "Kerem Shalom": "reopened"},
    ),
    (
        "opened on the same terms",
        "Deportees only",
        "Torkham reopened for deportees on Monday. Chaman has been opened on the same terms.",
        {"Torkham": "reopened", "Chaman": "partially_open"},
    ),
    (
        "Spin Boldak gate",
        "Trucks idle at Spin Boldak gate",
        "The Spin Boldak gate stayed shut for a tenth day.",
        {"Chaman": "closed"},
    ),
    (
        "a hyphenated road with a two-word end",
        "Curfew in Bajaur",
        "Authorities closed the Khar-Loi Mamund road on Tuesday.",
        {"Khar-Loi Mamund road": "closed"},
    ),
    (
        "the road between two towns",
        "Kurram cut off",
        "The main road between Parachinar and Peshawar remains closed.",
        {"Parachinar highway": "closed"},
    ),
    (
        "still be allowed after a closure",
        "Thailand shuts Cambodia border crossings",
        "Thailand has closed all land checkpoints along its border with Cambodia. Students and patients "
        "will still be allowed to cross.",
        {"Thailand-Cambodia crossings": "partially_open"},
    ),
    (
        "pedestrians continued normally",
        "Torkham cargo halted",
        "Cargo traffic through Torkham was suspended on Tuesday. Pedestrian crossings continued normally.",
        {"Torkham": "partially_open"},
    ),
    (
        "roman urdu reopening after the closure",
        "Ghulam Khan khul gaya",
        "Do hafte ki bandish ke baad aaj Ghulam Khan border trade ke liye khol diya gaya.",
        {"Ghulam Khan": "reopened"},
    ),
    (
        "roman urdu bahal",
        "Angoor Adda par aamad-o-raft bahal",
        "",
        {"Angoor Adda": "reopened"},
    ),
    (
        "all crossings with the one neighbour named",
        "Interior ministry: all border crossings with Afghanistan to stay closed",
        "",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    (
        "airports listed with commas",
        "Flights resume",
        "The airports of Multan, Faisalabad and Sukkur resumed operations on Sunday.",
        {"Multan airport": "reopened", "Faisalabad airport": "reopened", "Sukkur airport": "reopened"},
    ),
    (
        "a port named by its city",
        "Transit cargo stuck",
        "Customs stopped clearing Afghan transit cargo at Gwadar port, leaving 900 containers stranded.",
        {"Gwadar port": "closed"},
    ),
    (
        "reopened to one traffic, another still suspended",
        "Kerem Shalom reopens for aid",
        "Kerem Shalom reopened to aid lorries on Sunday. Commercial traffic remains suspended.",
        {"Kerem Shalom": "partially_open"},
    ),
    (
        "one-time exception, otherwise shut",
        "Stranded trucks let through Angoor Adda",
        "About 80 stranded trucks were allowed through Angoor Adda on Monday. The crossing otherwise "
        "remains shut to traffic.",
        {"Angoor Adda": "partially_open"},
    ),
    (
        "unsealed",
        "Kharlachi gate unsealed",
        "",
        {"Kharlachi": "reopened"},
    ),
    (
        "roman urdu khol di gayi",
        "Ghulam Khan sarhad khol di gayi",
        "",
        {"Ghulam Khan": "reopened"},
    ),
    (
        "a city's airport in the possessive",
        "Flights halted",
        "Drone strikes shut Port Sudan's airport on Sunday.",
        {"Port Sudan airport": "closed"},
    ),
    (
        "the airports in two cities",
        "Airports reopen",
        "The airports in Rzeszow and Lublin resumed operations on Wednesday morning.",
        {"Rzeszow airport": "reopened", "Lublin airport": "reopened"},
    ),
    (
        "pedestrians barred while cargo continued to pass",
        "Chaman sit-in",
        "Pedestrians remained barred from Chaman, while cargo trucks continued to pass through the gate.",
        {"Chaman": "partially_open"},
    ),
    (
        "trucks roll again after a shutdown",
        "Torkham: trucks roll again after four-week shutdown",
        "",
        {"Torkham": "reopened"},
    ),
    (
        "only a fraction is a quantity",
        "Returnees crowd Islam Qala",
        "Thousands crossed through Islam Qala from Iran. Aid groups could help only a fraction of the "
        "returnees.",
        {},
    ),
    (
        "airports named together",
        "Flights grounded",
        "The aviation authority halted all flights at Multan, Faisalabad and Sukkur airports on Friday.",
        {"Multan airport": "closed", "Faisalabad airport": "closed", "Sukkur airport": "closed"},
    ),
    (
        "airspace of the country the headline opens with",
        "Afghanistan shuts airspace to Pakistani carriers for a month",
        "",
        {"Afghan airspace": "closed"},
    ),
]


@pytest.mark.parametrize(
    ("name", "title", "body", "expected"), CROSSING_CASES, ids=[c[0] for c in CROSSING_CASES]
)
def test_crossing_families(tag: TagFn, name: str, title: str, body: str, expected: dict[str, str]) -> None:
    event = tag(title, body)
    assert {c.name: c.state.value for c in event.crossings} == expected, name


REGION_CASES: list[tuple[str, str, str, str]] = [
    (
        "a Roman-Urdu ticker naming no place",
        "Dono mulkon ke darmiyan muzakrat ka teesra daur shuru",
        "",
        "af-pak",
    ),
    (
        "a Roman-Urdu ticker about another theatre",
        "Beirut mein jang bandi barqarar, Israeli hamlay ruk gaye",
        "",
        "other",
    ),
    (
        "embassy in a frontier city",
        "Japan to reopen its Kabul embassy, Tokyo says",
        "The foreign ministry in Tokyo said its embassy in Kabul would resume consular work in spring.",
        "other",
    ),
    (
        "visiting delegation abroad",
        "Visiting Pakistani minister signs power deal in Dushanbe",
        "The visiting Pakistani energy minister signed the agreement in Tajikistan on Monday.",
        "other",
    ),
    ("on national soil", "Indian drones on Pakistani soil, army says", "", "af-pak"),
    ("frontier district", "Roadside bomb hits van near Kulachi", "", "af-pak"),
    ("afghan province", "Flash floods sweep villages in Faryab", "", "af-pak"),
    ("a common word is no place", "Dubai stays the region's busiest trade hub", "", "other"),
    ("talks venue abroad", "Afghan and Pakistani delegations meet in Istanbul", "", "af-pak"),
]


@pytest.mark.parametrize(
    ("name", "title", "body", "expected"), REGION_CASES, ids=[c[0] for c in REGION_CASES]
)
def test_region_families(tag: TagFn, name: str, title: str, body: str, expected: str) -> None:
    assert tag(title, body).region.value == expected, name


def test_a_dated_event_well_before_publication_is_background(tagger: Tagger) -> None:
    """'When ... on 11 October, 23 soldiers died', published a month later: an earlier toll."""

    def tag_on(title: str, body: str, day: str) -> TaggedEventV1:
        published = datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)
        item = make_item(title, body).model_copy(update={"published_at": published, "ingested_at": published})
        return tagger.tag(item, published)

    body = "When fighters overran border posts on 11 October, 23 soldiers died, the army said."
    assert Label.CASUALTIES not in tag_on("Analysis: a month on", body, "2025-11-14").labels
    fresh = tag_on("Border posts overrun", body, "2025-10-12")
    assert Label.CASUALTIES in fresh.labels and fresh.figures.killed == 23
    # the day a truce began is no date of the deaths
    since = "Strikes killed 12 people, the worst day since the truce took effect on 10 October."
    assert tag_on("Strikes", since, "2025-11-02").figures.killed == 12
