"""The corpus's sentences: English written for this project, as data. Each has a kind and a split (train or
heldout); the two splits share no text, and every kind is in both.

Complete kinds (said without a pause): statement, question, exclamation, list, short_reply, long.
Paused kinds (first part, rest; a 600-1000 ms pause goes between them, and the turn is not over at the pause):
clause_boundary, mid_phrase, trailing_and, filler, list_in_progress, question_mid.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "heldout")
COMPLETE_KINDS = ("statement", "question", "exclamation", "list", "short_reply", "long")
PAUSED_KINDS = ("clause_boundary", "mid_phrase", "trailing_and", "filler", "list_in_progress", "question_mid")


@dataclass(frozen=True)
class Sentence:
    kind: str  # one of COMPLETE_KINDS or PAUSED_KINDS
    split: str  # "train" | "heldout"
    parts: tuple[str, ...]  # (text,) for a complete sentence; (first part, rest) for a paused one

    @property
    def text(self) -> str:
        return " ".join(self.parts)

    @property
    def paused(self) -> bool:
        return len(self.parts) > 1


_COMPLETE = {
    "train": {
        "statement": (
            "The library closes early on Sundays.",
            "My brother moved to a small town near the coast.",
            "We painted the kitchen a pale shade of blue last weekend.",
            "The train to the airport leaves every twenty minutes.",
            "I left my umbrella at the office again.",
            "Our neighbours have a very friendly old dog.",
            "The soup needs a little more salt.",
            "She started a new job at the hospital in March.",
            "The printer on the second floor is out of paper.",
        ),
        "question": (
            "What time does the bakery open tomorrow?",
            "Have you seen my reading glasses anywhere?",
            "How long does it take to walk to the station?",
            "Is there any coffee left in the pot?",
            "Where did you park the car this morning?",
            "Do you know a good recipe for lentil soup?",
            "Why is the heating making that strange noise?",
            "Would you like to join us for dinner on Friday?",
            "Which bus goes to the city centre?",
        ),
        "exclamation": (
            "What a beautiful sunset that was!",
            "I can't believe we finally won the match!",
            "That was the best cake I have ever eaten!",
            "Wow, the garden looks amazing this year!",
            "Oh no, I forgot to lock the front door!",
            "This is such wonderful news!",
            "Look at all that snow outside!",
            "You did a fantastic job on the presentation!",
        ),
        "list": (
            "I need flour, sugar and two lemons.",
            "Please bring a towel, a hat and some sunscreen.",
            "We visited Paris, Rome and Vienna last summer.",
            "The kit comes with a hammer, a saw and a box of nails.",
            "She plays the piano, the violin and the flute.",
            "Put the cups, the plates and the forks on the table.",
            "I packed socks, shirts, a jumper and a raincoat.",
            "We still have to call the plumber, the bank and the school.",
        ),
        "short_reply": (
            "Sure, that works for me.",
            "No, thank you.",
            "Okay, I will do that.",
            "Maybe later.",
            "That's fine by me.",
            "Not really.",
            "Sounds great, thanks.",
            "I don't think so.",
        ),
        "long": (
            "When I was younger I used to spend every summer at my grandmother's farm, feeding the chickens and "
            "picking strawberries in the fields.",
            "The committee decided to postpone the vote until next month because several members were away at a "
            "conference abroad.",
            "If the weather stays dry over the weekend we are planning to drive up to the lake and spend a couple "
            "of nights camping by the water.",
            "After reading the instructions three times I still could not work out how to connect the new "
            "speakers to the television.",
            "The museum has a large collection of old maps that show how the river has changed its course over "
            "the last four hundred years.",
            "My sister keeps telling me that I should learn to cook properly instead of ordering takeaway every "
            "evening after work.",
            "Although the film was nearly three hours long, nobody in the cinema seemed to get bored even for a "
            "minute.",
            "The company is hiring two new engineers this spring to help rebuild the old software that runs the "
            "warehouse.",
        ),
    },
    "heldout": {
        "statement": (
            "The river floods almost every spring.",
            "My cousin works as a pilot for a small airline.",
            "The lights in the hallway keep flickering.",
            "We adopted a grey cat from the shelter last year.",
            "The concert starts at half past seven.",
            "I usually drink tea in the afternoon.",
            "The new bridge opened to traffic in October.",
            "Her laptop battery only lasts about an hour.",
            "The children built a snowman in the park.",
        ),
        "question": (
            "Can you remind me when the dentist appointment is?",
            "How much does a ticket to the museum cost?",
            "Did anyone feed the fish today?",
            "What are you cooking for lunch?",
            "Are the shops open on the bank holiday?",
            "Where can I buy a charger for this phone?",
            "Who left the window open in the bedroom?",
            "Should we take the motorway or the coast road?",
            "How was your trip to the mountains?",
        ),
        "exclamation": (
            "That was an incredible concert!",
            "Happy birthday, I hope you have a lovely day!",
            "Oh, the view from up here is stunning!",
            "We did it, the house is finally ours!",
            "Watch out, the floor is wet!",
            "What a brilliant idea!",
            "I love this song so much!",
            "Oh dear, the milk has gone sour!",
        ),
        "list": (
            "I bought carrots, onions and a bag of rice.",
            "Remember your passport, your tickets and your charger.",
            "The shop sells lamps, rugs and old furniture.",
            "We need glue, scissors and coloured paper.",
            "He speaks Spanish, German and a little Japanese.",
            "Wash the pans, dry the glasses and wipe the counter.",
            "The salad has tomatoes, cucumber, olives and feta.",
            "Invite your parents, your aunt and your neighbours.",
        ),
        "short_reply": (
            "Of course, no problem.",
            "Yes, please.",
            "Alright, see you then.",
            "Not at the moment.",
            "That's a good point.",
            "I'm not sure.",
            "Thanks, that helps a lot.",
            "Fine, let's go.",
        ),
        "long": (
            "Every morning before work my father walks the dog along the canal, buys a newspaper and stops for a "
            "coffee at the same little cafe.",
            "The report suggests that the town should build more cycle lanes and reduce the number of cars "
            "allowed in the old centre.",
            "Because the flight was delayed by four hours, we missed our connection and had to spend the night in "
            "a hotel near the airport.",
            "I have been trying to grow tomatoes on the balcony for three years now, but the pigeons always get to "
            "them before I do.",
            "The teacher asked every student to write a short essay about a person who had changed the way they "
            "think about the world.",
            "When the power went out during the storm, we lit some candles, played cards and listened to the rain "
            "until it was late.",
            "The engineers replaced the old cables under the street last week, so the internet should be much "
            "faster from now on.",
            "She spent most of the holiday reading in the garden, which was exactly what she needed after such a "
            "busy year.",
        ),
    },
}

_PAUSED = {
    "train": {
        "clause_boundary": (
            ("I finished the report", "and sent it to my manager."),
            ("We waited for the bus", "but it never came."),
            ("She opened the window", "because the room was too warm."),
            ("I called the restaurant", "and booked a table for four."),
            ("The rain stopped", "so we went for a walk."),
            ("He fixed the bicycle", "and then rode it to school."),
            ("I wanted to go out tonight", "but I am too tired."),
            ("The shop was closed", "so I tried the one across the road."),
            ("We cleaned the whole flat", "before our guests arrived."),
        ),
        "mid_phrase": (
            ("The best thing about this city is", "the food."),
            ("My favourite season has always been", "autumn."),
            ("The meeting has been moved to", "next Thursday."),
            ("I would really like to visit", "Japan one day."),
            ("The password for the network is", "written on the fridge."),
            ("Our flight leaves at", "six in the morning."),
            ("The name of the film was", "something about a lighthouse."),
            ("What I need right now is", "a long holiday."),
            ("The keys are probably in", "the drawer by the door."),
        ),
        "trailing_and": (
            ("I made some pasta and", "a green salad."),
            ("We went swimming and", "then had lunch on the beach."),
            ("She called her mother and", "told her the good news."),
            ("I bought a new lamp and", "a couple of cushions."),
            ("He washed the car and", "mowed the lawn."),
            ("They sang a few songs and", "danced until midnight."),
            ("I read the letter and", "put it back in the envelope."),
            ("We need to tidy up and", "take out the rubbish."),
        ),
        "filler": (
            ("I was going to say um", "that the party is on Saturday."),
            ("The thing is uh", "I lost the receipt."),
            ("Let me see um", "I think it was the blue one."),
            ("So basically er", "we need more time."),
            ("I guess um", "we could try again tomorrow."),
            ("Well uh", "it depends on the price."),
            ("It was um", "around five o'clock."),
            ("Honestly I er", "don't remember his name."),
        ),
        "list_in_progress": (
            ("We need butter, cheese", "and a loaf of bread."),
            ("I have invited Tom, Sarah", "and the twins from next door."),
            ("Pack the tent, the stove", "and the sleeping bags."),
            ("The colours are red, yellow", "and dark green."),
            ("She grows roses, tulips", "and a few sunflowers."),
            ("Check the oil, the tyres", "and the brakes."),
            ("I have been to Spain, Greece", "and Portugal."),
            ("We sell chairs, tables", "and bookshelves."),
        ),
        "question_mid": (
            ("Do you happen to know", "where the nearest pharmacy is?"),
            ("Could you please remind me", "to call the bank tomorrow?"),
            ("Would it be possible to", "change my booking?"),
            ("What do you think about", "painting the fence white?"),
            ("Is it true that", "the museum is free on Mondays?"),
            ("How many people are", "coming to the wedding?"),
            ("Can you explain to me", "how this machine works?"),
            ("Why did they decide to", "close the swimming pool?"),
        ),
    },
    "heldout": {
        "clause_boundary": (
            ("I knocked on the door", "but nobody answered."),
            ("The kettle boiled", "so I made us some tea."),
            ("She missed the last train", "and had to take a taxi."),
            ("We finished dinner early", "because the film started at eight."),
            ("He turned off the radio", "and went to bed."),
            ("I tried the new cafe", "and the cake was lovely."),
            ("The road was icy", "so we drove very slowly."),
            ("They sold their old house", "and moved to the countryside."),
            ("I wrote down the address", "before I forgot it."),
        ),
        "mid_phrase": (
            ("The only problem with this plan is", "the cost."),
            ("My sister's birthday is on", "the twelfth of June."),
            ("The hardest part of the job is", "waking up so early."),
            ("The parcel should arrive by", "the end of the week."),
            ("The reason I'm calling is", "to ask about the invoice."),
            ("I left my coat at", "my friend's house."),
            ("The capital of Australia is", "Canberra."),
            ("Dinner will be ready in", "about ten minutes."),
            ("The book I'm reading is about", "a family of sailors."),
        ),
        "trailing_and": (
            ("I fed the cat and", "watered the plants."),
            ("We booked a cabin and", "hired a small boat."),
            ("He bought a guitar and", "started taking lessons."),
            ("She baked some biscuits and", "a lemon tart."),
            ("I checked my email and", "replied to the urgent ones."),
            ("They painted the fence and", "planted some herbs."),
            ("We walked to the harbour and", "watched the ferries."),
            ("I need to pay the rent and", "renew my library card."),
        ),
        "filler": (
            ("I think er", "the shop closes at six."),
            ("The problem is um", "the car won't start."),
            ("Actually uh", "I'd prefer the window seat."),
            ("Maybe we could um", "meet for lunch instead."),
            ("It's kind of er", "hard to explain."),
            ("So um", "what did the doctor say?"),
            ("I was uh", "hoping you could help me."),
            ("You know um", "I never liked that place."),
        ),
        "list_in_progress": (
            ("Buy some apples, pears", "and a bunch of grapes."),
            ("I play tennis, golf", "and sometimes badminton."),
            ("Bring your boots, a torch", "and a warm jacket."),
            ("The menu has soup, fish", "and a chocolate pudding."),
            ("We met Anna, David", "and their little boy."),
            ("Clean the windows, the mirrors", "and the shower."),
            ("The trip covers Oslo, Bergen", "and the northern fjords."),
            ("I need stamps, envelopes", "and a roll of tape."),
        ),
        "question_mid": (
            ("Do you remember", "where we left the ladder?"),
            ("Could you find out", "when the next ferry leaves?"),
            ("Would you mind", "closing the door behind you?"),
            ("Have you decided", "what to wear to the party?"),
            ("Is there any chance", "we could leave a bit earlier?"),
            ("What time do you think", "the guests will arrive?"),
            ("Can somebody tell me", "who took my charger?"),
            ("Where would you like", "to go on holiday this year?"),
        ),
    },
}


def _build() -> tuple[Sentence, ...]:
    out = []
    for split in SPLITS:
        for kind in COMPLETE_KINDS:
            out += [Sentence(kind, split, (text,)) for text in _COMPLETE[split][kind]]
        for kind in PAUSED_KINDS:
            out += [Sentence(kind, split, parts) for parts in _PAUSED[split][kind]]
    return tuple(out)


SENTENCES = _build()


def sentences(split: str, paused: bool) -> tuple[Sentence, ...]:
    """The split's complete (paused=False) or paused sentences, in a fixed order."""
    return tuple(s for s in SENTENCES if s.split == split and s.paused == paused)
