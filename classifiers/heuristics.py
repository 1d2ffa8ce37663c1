"""Rules and heuristics: cheap, explainable spam, question and negative scores without a model."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers.contract import Label, Sample, Score
from classifiers.text import (
    domain_of,
    emoji_count,
    extract_links,
    extract_mentions,
    head_tail,
    match_key,
    mixed_script_words,
    normalize,
)

# Long texts are cut before matching: spam shows itself early, and regexes stay fast.
MAX_CHARS = 20_000
# No mix of cues is certain, so no heuristic score says 1.0.
MAX_SCORE = 0.99

Pattern = tuple[re.Pattern[str], float]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _word_set(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# Hard cues sit near 0.9 so one alone crosses a 0.85 spam threshold; weak ones stay far below.
W_STOP_WORD = 0.9
W_BLOCKED = 0.9
W_FIRST_LINK = 0.25
W_MORE_LINKS = 0.15
W_DM = 0.6
W_DM_MENTION = 0.35
W_SHADY = 0.45
W_BOT = 0.55
W_CHANNEL = 0.45
# "Subscribe to MY channel": a stranger advertising themselves, enough for a moderator's review.
W_SELF_PROMOTION = 0.6
W_LURE = 0.35
# Real people slip a Latin "C" into Russian words too, so one such word alone is weak.
W_MIXED_FIRST = 0.35
W_MIXED_MORE = 0.3
W_DISGUISED_LURE = 0.7
W_EMOJI = 0.4
W_CAPS = 0.25
W_CONTACT = 0.3

# An imperative invitation to private messages is stronger than a mere mention of them.
_DM = _rx(
    r"(?:пиши|напиши|обращай|стучи|жду|пишем|отпиши|детали|подробности)\w*\s+(?:мне\s+)?"
    r"(?:\+\s+)?(?:в\s+)?(?:лс|личк\w*|личн\w*\s+сообщени\w*|директ)\b"
    r"|\(\s*\+\s*\)|\+\s+в\s+лс|(?:пишите|отправ\w+\s+мне|ставь\w*)\s*[«\"]?\+"
    r"|\b(?:dm|pm|inbox|message|text|write|contact)\s+me\b"
    r"|\bsend\s+me\s+an?\s+(?:dm|pm|message)\b"
)
_DM_MENTION = _rx(
    r"\bв\s+(?:лс|личку|личные\s+сообщения|личных\s+сообщениях|директ)\b"
    r"|\b(?:in|via|to)\s+(?:my\s+)?(?:dms?|pms?|inbox|private\s+messages?)\b"
)
_PLATFORM = (
    r"(?:youtube|ютуб\w*|telegram|телеграм\w*|tg|тг|insta(?:gram)?|инст\w*|tiktok|тикток\w*"
    r"|twitch|vk|вк)"
)
_CHANNEL = _rx(
    rf"\bподпи[сш]\w*\s+на\s+(?:мой\s+|мою\s+|наш\s+)?(?:{_PLATFORM}[\s-]?)?"
    r"(?:канал|группу|паблик|бот|страниц\w*|аккаунт)"
    r"|\b(?:переход|заход|загляды)\w*\s+(?:ко\s+мне\s+)?(?:в|на)\s+(?:мой\s+|мою\s+|наш\s+)?"
    r"(?:канал|бот|профиль|группу|страниц\w*|блог)"
    r"|\bвступай\w*\s+в\b|\bссылк\w*\s+в\s+(?:моем\s+|моём\s+)?(?:профиле|био|описании|шапке)"
    rf"|\b(?:check\s+out|join|subscribe\s+to|follow|visit)\s+(?:my|our)\s+(?:{_PLATFORM}\s+)?"
    r"(?:channel|group|page|bot|account|profile|blog)"
    rf"|\bfollow\s+(?:me|us)\s+on\s+{_PLATFORM}\b|\bsubscribe\s+to\s+me\b"
    r"|\blink\s+in\s+(?:my\s+)?(?:bio|profile)\b"
    # "Type CODE into Telegram search": a way round link filters.
    r"|\bнапиши\w*\s+в\s+поиск\w*|\bв\s+поиск\w*\s+телеграм\w*|\bsearch\s+(?:in\s+)?telegram"
)
_FIRST_PERSON = _rx(r"\b(?:my|me|мой|мою|моем|моём|ко\s+мне)\b")
# Telegram's own link hosts: a link there points at a bot, channel or invite, not at a website.
_TG_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})
_TG_PATH = re.compile(r"(?i)t(?:elegram)?\.(?:me|dog)/")
_PATH_END = re.compile(r"[/?#]")
_TG_INVITE = re.compile(r"(?i)\.(?:me|dog)/(?:\+|joinchat/)")
_CONTACT_PHONE = re.compile(r"(?<!\d)\+?\d(?:[\s\-()]?\d){9,13}(?!\d)")
# Fewer letters than this are acronyms ("МТС", "OK"), not shouting.
_CAPS_MIN_LETTERS = 15
# A contact is suspicious when it is most of the message; long texts mention numbers honestly.
_SHORT_WORDS = 25

_LURES: tuple[Pattern, ...] = tuple(
    (_rx(p), W_LURE)
    for p in (
        # Not "заработал/заработает": in Russian that also means "started working".
        r"\bзаработ(?:ок|ка|ку|ком|ать)\b|\bзарабатыва\w*",
        r"\bдоход\w*|\bприбыл\w*",
        r"\bбез\s+вложени\w*|\bпассивн\w*",
        r"\bудаленно\b|\bудаленн\w+\s+(?:работ|заработ|доход|занятост)\w*",
        r"\bинвестиц\w*|\bинвестир\w*|\binvest\w*",
        r"\bкрипт\w*|\bcrypto\w*|\bbitcoin|\bbtc\b|\busdt\b|\bbinance|\beth\b",
        r"\bтрейд\w*|\bforex\b|\btrading\b|\btrader\w*|\bbroker\w*",
        r"\bцифров\w+\s+актив\w*|\bdigital\s+assets?",
        r"\bищу\s+(?:партнер|людей|сотрудник|коллег)\w*|\bнабира\w+\s+(?:в\s+)?команд\w*",
        r"\bобучени\w*\s+бесплатн\w*|\bбесплатн\w*\s+обучени\w*|\bобучаем\s+бесплатно",
        # Bounded repeats keep these linear on long runs of digits.
        r"\d[\d\s.,]{0,12}(?:\$|usd\w*|руб\w*|р\b|₽|к\b|k\b|тыс\w*)\s{0,3}(?:в|за|/|per|a)\s{1,3}"
        r"(?:день|сутки|неделю|месяц|час|day|week|month|hour)\b",
        r"\bот\s+\d[\d\s.,]{0,12}(?:\$|usd|руб|₽|р\b)|[$£€]\s?\d[\d,.]{0,12}k?\b"
        r"|\d[\d,.]{0,12}\s?[$£€]",
        # Premium-rate SMS style: "text WIN to 80086", "free entry", "call 0906…".
        r"\b(?:txt|text|send|reply)\s+\w+\s+to\s+\d{4,6}\b|\bcall\s+0?9\d{7,}"
        r"|\bfree\s+(?:entry|gift|cash|prize|tickets?|ringtones?|msgs?|minutes|vouchers?|trial)\b"
        r"|\b(?:urgent|congratulations)\s*!",
        r"\b18\s*\+|\bтолько\s+совершеннолетн\w*",
        r"\bearn\w*|\bmake\s+money|\bprofit\w*|\bincome\b|\bpayouts?\b|\bwithdrawal\w*",
        r"\bfinancial(?:ly)?\s+(?:freedom|free|stable)|\bwork\s+from\s+home|\bpassive\s+income",
        r"\bairdrop\w*|\bdrop\s+your\s+wallet|\bgiveaway\w*",
        # Russian "выиграли" is mostly sport talk, so only the English prize words count.
        r"\b(?:win|won|winner|prize|claim|reward\w*|bonus)\b|\bприз(?:ы|а|ов)?\b",
        r"\blegit\w*|\b100\s?%\s+(?:genuine|legit|guaranteed|гарант\w*)|\bguaranteed\b",
        # Easy-job offers, the commonest Russian Telegram spam after crypto: who is wanted,
        # how little time it takes, that a phone is enough, and the pay.
        r"\bподработк\w*|\b(?:нужен|нужны|требуется|требуются|ищу|ищем)\s+(?:срочно\s+)?"
        r"(?:человек|люди|людей|сотрудник\w*|помощник\w*|ассистент\w*)",
        r"\b\d\s*-\s*\d\s+час\w*\s+в\s+(?:день|сутки)|\bчас\w*\s+(?:свободного\s+)?времени"
        r"|\bзанятость\s+(?:от\s+)?\d",
        r"\bне\s+выходя\s+из\s+дома|\b(?:работа\w*|заработок|доход)\s+(?:с|со\s+своего)\s+телефона"
        r"|\bтелефон\s+подойдет"
        r"|\bнеобходим\s+телефон",
        r"\bоплата\s+(?:хорошая|достойная|ежедневн\w*|каждый\s+день)|\b18\s*-\s*65\b"
        r"|\bот\s+18\s+(?:до|лет)",
        r"\bставк[аиу]\s+на\b|\bставим\b|\bтотал\w*|\bfree\s+spins?",
        r"\bпрогноз\w*|\bбукмекер\w*|\bказино|\bcasino|\bbetting\b|\bвыигрыш\w*\s+в\s+ряд",
        r"\bno\s+(?:scam|delay|hidden\s+(?:fees|charges)|risk)\b|\brisk[-\s]free|\bбез\s+риск\w*"
        r"|\bfree\s+(?:registration|withdrawal|signup)|\bcash\s*out\b",
    )
)
_SHADY = _rx(
    r"\bфальш\w*|\bподдельн\w*|\bкупюр\w*|\bобнал\w*|\bинтим\w*|\bобнаженн\w*|\bоголенн\w*"
    r"|\bслит\w+\s+фото|\bnudes?\b|\bonlyfans\b|\bнаркот\w*|\bзакладк\w*|\bпробив\w*"
    r"|\bэскорт\w*|\bescort\w*|\bнакрут\w*"
    r"|\bcounterfeit\b|\bfake\s+(?:money|notes|documents|id)"
)

# Question weights: a cue at the start of a sentence says more than one inside it, and "?"
# alone stays under 0.5 because rhetorical questions and sarcasm carry it too.
W_QUESTION_MARK = 0.45
W_WH_START = 0.55
W_AMBIGUOUS_START = 0.4
W_WH_INSIDE = 0.3
W_LI = 0.5
W_REQUEST = 0.6
W_AUX = 0.55
W_WANT = 0.5

_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")
# Hyphenated words stay whole, so "кто-то" is not read as the interrogative "кто".
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
# Unambiguous interrogatives; the ambiguous ones double as conjunctions ("когда я пришёл").
_WH = _word_set(
    "сколько почему зачем где куда откуда каков какова каково каковы чей чья чье чьи отчего "
    "кто кого кому кем ком чего чему чьим чьей чьего чьих "
    "какой какая какое какие каких каким какими каком какую какого какому "
    "how what where why which who whom whose"
)
_AMBIGUOUS_WH = _word_set("как когда что чем можно есть when")
# After an ambiguous opener these make a question: "как оплатить", "когда будет", "when is".
_QUESTION_VERB = _rx(
    r"^(?:\w+(?:ть|ти|чь|ться)|будет|будут|можно|нужно|надо|лучше|делать|is|are|will|do|does|"
    r"did|can|should|would|could|was|were|has|have)$"
)
_INSIDE_WH = _word_set("сколько почему зачем how why where")
_LI = _rx(r"\b[^\W\d_]+\s+ли\b")
_REQUEST = _rx(
    r"\b(?:не\s+)?подскаж\w*|\bскажите\b|\bрасскажите\b|\bобъясните\b|\bпомогите\b"
    r"|\bпосоветуйте\b|\bуточните\b|\bхоч\w*\s+узнать|\bхотел\w*\s+бы\s+узнать"
    r"|\bинтересует\b|\bнужна\s+помощь|\bможно\s+узнать|\bесть\s+вопрос|\bвопрос\s*:"
    r"|\bi'?d\s+like\s+to\s+know|\bi\s+would\s+like\s+to\s+know|\bi\s+(?:want|need)\s+to\s+know"
    r"|\bhelp\s+me\b|\bplease\s+help|\bcan\s+you\s+help|\btell\s+me\b|\bi\s+need\s+help"
    r"|\bwonder(?:ing)?\b|\blet\s+me\s+know|\bexplain\b|\bhow\s+to\b|\bis\s+it\s+possible"
)
# Needs and wishes addressed to the brand are requests to answer, though not phrased as questions.
_WANT = _rx(
    r"\bi\s+(?:would|'d)\s+like\s+(?:to|a|an|my|some)\b|\bi\s+(?:need|want)\s+(?:to|a|an|my|"
    r"some|help|information|the)\b|^please\s+\w+|\bхоч\w*\s+(?:узнать|вернуть|отменить|"
    r"поменять|изменить|оформить|заказать)|\bпрошу\s+(?:вас\s+)?\w+|\bнужно\s+ли\b"
)
_AUX_START = _rx(
    r"^(?:can|could|would|will|do|does|did|is|are|am|was|were|should|may|might|have|has|"
    r"shall|isn't|aren't|don't|doesn't|didn't|can't|won't)\s+(?:i|you|we|they|he|she|it|"
    r"there|my|your|the|this|that|these|those|a|an|someone|anyone|anybody|u)\b"
)
_LEADING_FILLER = _word_set(
    "а и но ну так вот ребята привет здравствуйте добрый день вечер утро друзья коллеги "
    "hi hello hey guys so and but also please ok okay"
)

# One ordinary complaint cue stays under the negative threshold; two cross both the cascade's
# 0.6 and rules.yaml's default 0.7 (0.45 each gave 0.6975). One strong cue (fraud, a refund
# demand) crosses 0.6 only: at 0.7 it would flag Banking77's calm refund questions (32 → 329).
W_COMPLAINT = 0.46
W_STRONG_COMPLAINT = 0.65
W_WEAK_COMPLAINT = 0.3
W_INTENSITY = 0.15
W_NEGATIVE_EMOJI = 0.4
W_SAD_SMILEY = 0.3

_STRONG_COMPLAINTS = (
    r"\bверн\w*\s+(?:мне\s+)?(?:мои\s+|наши\s+)?деньги|\bобман\w*|\bмошенни\w*|\bмошенн\w*"
    r"|\bхамств\w*|\bхамск\w*|\bнахамил\w*|\bхамит\w*|\bхамят|\bотвратит\w*|\bпозор\w*"
    r"|\bнагруби\w*|\bгрубиян\w*|\b(?:want|give\s+me|demand)\s+(?:my\s+|our\s+)?money\s+back"
    r"|\bжалоб\w*|\bпретензи\w*|\bnever\s+again|\bscam\w*|\brefund\w*|\bfraud\w*"
    r"|\bбольше\s+никогда|\bникогда\s+больше|\bне\s+(?:советую|рекомендую)|\bwould\s+not\s+recommend"
    r"|\bwouldn'?t\s+recommend|\bdo\s+not\s+recommend|\bdon'?t\s+recommend|\bfalse\s+advertising"
    r"|\brip[\s-]?off|\bripped\s+off|\bворы\b|\bворюг\w*|\bкрадут|\bукрали\b"
    # A verdict on the service itself is a complaint to the brand, whatever the product.
    r"|\b(?:ужасн|отвратн|кошмарн|худш)\w*\s+(?:сервис|обслуживани|качеств|магазин|доставк)\w*"
    r"|\b(?:terrible|awful|horrible|worst)\s+(?:service|quality|shop|store|delivery|support)"
)
_COMPLAINTS = (
    r"\bне\s+работа\w*|\bне\s+при(?:шл|шел|ходит|ходят|ехал|слали)\w*|\bне\s+отвеча\w*"
    r"|\bне\s+дозвон\w*|\bне\s+могу\s+(?:дозвониться|войти|зайти|оплатить|вывести|снять|получить)"
    r"|\bдо\s+сих\s+пор\s+(?:нет|не)\b|\bразочаров\w*|\bбезобрази\w*|\bвозмути\w*|\bвозмущ\w*"
    r"|\bбесит|\bбесят|\bразвод(?:ят|ил\w*|ом|\b)|\bсломал\w*|\bсломан\w*|\bглюч\w*|\bглюк\w*"
    r"|\bвиснет|\bтормоз\w*|\bсписал\w*|\bнадоел\w*|\bдерьм\w*|\bговн\w*|\bотстой\w*"
    r"|\bидиот\w*|\bдебил\w*|\bуроды?\b|\bтвар\w*|\bбля\w*|\bхрен\w*"
    r"|\bdoesn'?t\s+work|\bdoes\s+not\s+work|\bnot\s+working|\bisn'?t\s+working"
    r"|\bstopped\s+working|\bbroken\b|\bstill\s+(?:waiting|haven'?t|not|no)\b|\brude\b"
    r"|\bdisappoint\w*|\buseless\b|\bunacceptable\b|\bridiculous\b|\bcomplain\w*|\bangry\b"
    r"|\bfurious\b|\bannoy\w*|\bhate\b|\bwaste\s+of\b"
    r"|\bpoor\s+(?:customer\s+)?(?:service|quality|support|experience)|\bpathetic\b|\blousy\b"
    r"|\bhorrendous\b|\bunprofessional\b|\boverpriced\b|\bmisleading\b|\bnot\s+worth\b"
    r"|\bno\s+(?:response|reply|answer)\s+(?:from|yet|for)\b|\bхуже\s+некуда|\bнепрофессионал\w*"
    r"|\bcharged\s+twice|\bnever\s+(?:arrived|received|got)|\bhasn'?t\s+arrived"
    r"|\bdidn'?t\s+(?:arrive|receive|get|work)"
    r"|\bперестал\w*\s+работать|\bсбо[йяиюе]\w*|\bтупит\w*|\bтупят|\bкида\w*|\bкинули\b"
    r"|\bне\s+(?:могут|может)\b|\bнепонятн\w*|\bне\s+понятн\w*|\bзавыш\w*|\bнавяз\w*"
    r"|\bбез\s+(?:моего|нашего|вашего)\s+(?:ведома|согласия)|\bлохотрон\w*|\bкидалов\w*"
    r"|\bsucks?\b|\bcrap\w*|\bwtf\b|\bbullshit\b"
    # Damaged or wrong goods, and being ignored.
    r"|\bразбит\w*|\bиспорч\w*|\bбракован\w*|\bбрак\b|\bпросроч\w*|\bпомят\w*"
    r"|\bигнорир\w*|\bdamaged\b|\bignor(?:e|es|ed|ing)\b|\bwrong\s+(?:item|order|size)"
    r"|\bразвалил\w*|\bразвалива\w*|\bпорвал\w*|\bfell\s+apart|\bfalling\s+apart"
    # Late deliveries and apps that crash, and nobody answering.
    r"|\bопозда\w*|\bопаздыва\w*|\b(?:hours?|days?|weeks?)\s+late\b|\b(?:arrived|delivered)\s+late\b"
    r"|\bвылета\w*|\bзависа\w*|\bkeeps?\s+(?:crashing|freezing|failing)|\bcrash(?:es|ed)\b"
    r"|\bне\s+перезвон\w*|\bникто\s+не\s+(?:отвеча|перезван|помога|реагир|звонит)\w*|\b(?:no\s+one|nobody)\s+(?:answers|replies|responds|helps)"
)
# Russian and English swearing: in a brand's comments it almost always comes with a complaint.
_PROFANITY = (
    r"\bсук[аи]\b|\bуеб\w*|\bеба\w*|\bебу\w*|\bхуй\w*|\bхуе\w*|\bхуев\w*|\bпизд\w*"
    r"|\bгавн\w*|\bсрать|\bжоп\w*|\bfuck\w*|\bshit\w*"
)
# These flip with a preceding negation: "не плохо", "not bad", "без проблем".
_NEGATABLE = (
    r"\bужасн\w*|\bужас\b|\bкошмар\w*|\bхудш\w*|\bплох\w*|\bхуже\b|\bterrible\b|\bawful\b"
    r"|\bhorrible\b|\bworst\b|\bbad\b|\bdisgust\w*"
)
_WEAK_NEGATABLE = (
    r"\bпроблем\w*|\bошибк\w*|\bзадерж\w*|\bзаблокир\w*|\bотключ\w*|\bштраф\w*|\bwrong\b"
    r"|\bproblem\w*|\bissue\w*|\bdeclined\b|\bfail\w*|\blost\b|\bstolen\b"
)
_COMPLAINT_PATTERNS: tuple[tuple[re.Pattern[str], float, bool], ...] = (
    (_rx(_STRONG_COMPLAINTS), W_STRONG_COMPLAINT, False),
    (_rx(_COMPLAINTS), W_COMPLAINT, False),
    (_rx(_PROFANITY), W_COMPLAINT, False),
    (_rx(_NEGATABLE), W_COMPLAINT, True),
    (_rx(_WEAK_NEGATABLE), W_WEAK_COMPLAINT, True),
)
_NEGATION_BEFORE = _rx(r"(?:\bне|\bни|\bnot|n't|\bnever|\bno|\bбез|\bнет)\s+$")
_NEGATIVE_EMOJI = re.compile(
    "[\U0001f620-\U0001f624\U0001f92c\U0001f44e\U0001f4a9"
    "\U0001f61e\U0001f61f\U0001f622\U0001f62d\u2639\U0001f641]"
)
_SAD_SMILEY = re.compile(r"(?<![:;=])\({2,}|[:;]-?\(")
_EXCLAIM = re.compile(r"!{2,}|\?!|!\?")
_MAX_COMPLAINTS = 4
# Enough to reach the score cap; more would only bloat the reasons a moderator reads.
_MAX_DOMAINS = 8


@dataclass(frozen=True, slots=True)
class Evidence:
    """One check that fired: its kebab-case id, what it saw, and how much it counts (0..1)."""

    check: str
    evidence: str
    weight: float

    @property
    def detail(self) -> str:
        """The reason as shown to moderators, e.g. "stop-word: в личку"."""
        return f"{self.check}: {self.evidence}" if self.evidence else self.check


@dataclass(frozen=True, slots=True)
class HeuristicConfig:
    """Admin-tunable inputs: stop words ("=" prefix means the whole message), domains, limits."""

    stop_words: Sequence[str] = ()
    allowed_domains: Sequence[str] = ()
    blocked_domains: Sequence[str] = ()
    max_emoji: int = 8
    max_chars: int = MAX_CHARS

    def __post_init__(self) -> None:
        # Tuples keep the frozen config hashable even when callers pass lists.
        for name in ("stop_words", "allowed_domains", "blocked_domains"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True, slots=True)
class _StopWord:
    phrase: str
    exact: bool
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class PreparedText:
    """A sample prepared once for every check."""

    display: str
    key: str
    links: tuple[str, ...]
    domains: tuple[str, ...]
    mentions: tuple[str, ...]
    mixed: tuple[str, ...]
    emoji: int
    words: tuple[str, ...]
    letters: int
    upper_share: float


def load_stop_words(path: str | Path) -> tuple[str, ...]:
    """Read a tg-spam style stop-word file: one phrase per line, blank lines ignored."""
    lines = Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines()
    return tuple(stripped for line in lines if (stripped := line.strip()))


def noisy_or(evidence: Iterable[Evidence]) -> float:
    """Combine independent cues: 1 − Π(1 − weight), capped below certainty."""
    # Noisy-OR keeps every score in 0..1 and lets weak cues add up without a hand-made table.
    miss = 1.0
    for item in evidence:
        miss *= 1.0 - min(max(item.weight, 0.0), 1.0)
    return round(min(1.0 - miss, MAX_SCORE), 4)


def _compile_stop_word(raw: str) -> _StopWord | None:
    exact = raw.startswith("=")
    phrase = match_key(raw[1:] if exact else raw)
    if not phrase:
        return None
    # A leading word boundary only, so a stem such as "заработ" still matches its endings.
    return _StopWord(phrase, exact, re.compile(rf"(?<!\w){re.escape(phrase)}"))


def _domain_matches(domain: str, listed: frozenset[str]) -> bool:
    # Listing "example.com" covers "shop.example.com" too, as admins expect.
    parts = domain.split(".")
    return any(".".join(parts[i:]) in listed for i in range(len(parts)))


def _domain_set(domains: Iterable[str]) -> frozenset[str]:
    return frozenset(d for raw in domains if (d := domain_of(raw)))


def prepare(sample: Sample, max_chars: int = MAX_CHARS) -> PreparedText:
    """Normalise a sample once: display text, matching key, links, mentions and features."""
    display = head_tail(normalize(sample.text), max_chars)
    links = tuple(dict.fromkeys((*extract_links(display), *sample.links)))
    domains = tuple(dict.fromkeys(d for link in links if (d := domain_of(link))))
    mentions = tuple(dict.fromkeys((*extract_mentions(display), *sample.mentions)))
    key = match_key(display)
    letters, upper = caps_ratio(display)
    return PreparedText(
        display,
        key,
        links,
        domains,
        mentions,
        mixed_script_words(display),
        emoji_count(display),
        tuple(_WORD.findall(key)),
        letters,
        upper,
    )


class KeywordClassifier:
    """Stop words, links, invitations, lures and text tricks scored per label, with reasons."""

    name = "heuristics"

    def __init__(self, config: HeuristicConfig | None = None) -> None:
        """Compile the configured stop words and domain lists once."""
        self.config = config or HeuristicConfig()
        compiled = (_compile_stop_word(raw) for raw in self.config.stop_words)
        self._stop_words = tuple(sw for sw in compiled if sw is not None)
        self._allowed = _domain_set(self.config.allowed_domains)
        self._blocked = _domain_set(self.config.blocked_domains)

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        """Return spam, question and negative scores per sample; failures become `Score.error`."""
        return [self._classify_safely(sample) for sample in samples]

    def _classify_safely(self, sample: Sample) -> tuple[Score, ...]:
        try:
            return self.score(sample)
        except Exception as exc:  # one bad sample must not sink the batch
            error = f"{type(exc).__name__}: {exc}"
            return tuple(Score(self.name, label, 0.0, (), error) for label in _LABELS)

    def score(self, sample: Sample) -> tuple[Score, ...]:
        """Score one sample; may raise, unlike `classify`."""
        text = prepare(sample, self.config.max_chars)
        return (
            self._to_score(Label.SPAM, self.spam_evidence(text)),
            self._to_score(Label.QUESTION, question_evidence(text)),
            self._to_score(Label.NEGATIVE, negative_evidence(text)),
        )

    def _to_score(self, label: Label, evidence: list[Evidence]) -> Score:
        # The same cue seen by two checks counts once, at its stronger weight.
        best: dict[str, Evidence] = {}
        for item in sorted(evidence, key=lambda e: -e.weight):
            best.setdefault(item.detail, item)
        ranked = list(best.values())
        return Score(self.name, label, noisy_or(ranked), tuple(e.detail for e in ranked))

    def spam_evidence(self, text: PreparedText) -> list[Evidence]:
        """Every spam cue found in a prepared text."""
        found = [*self._stop_word_hits(text), *self._link_hits(text)]
        for check in _SPAM_CHECKS:
            found.extend(check(text, self.config))
        return found

    def _stop_word_hits(self, text: PreparedText) -> list[Evidence]:
        return [
            Evidence("stop-word", sw.phrase, W_STOP_WORD)
            for sw in self._stop_words
            if (text.key == sw.phrase if sw.exact else sw.pattern.search(text.key))
        ]

    def _link_hits(self, text: PreparedText) -> list[Evidence]:
        foreign = [d for d in text.domains if not _domain_matches(d, self._allowed)]
        blocked = [d for d in foreign if _domain_matches(d, self._blocked)]
        unknown = [d for d in foreign if d not in blocked][:_MAX_DOMAINS]
        return [Evidence("blocked-domain", d, W_BLOCKED) for d in blocked] + [
            Evidence("link-not-allowed", d, W_FIRST_LINK if i == 0 else W_MORE_LINKS)
            for i, d in enumerate(unknown)
        ]


_LABELS = (Label.SPAM, Label.QUESTION, Label.NEGATIVE)


def dm_invitation(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Invitations to continue in private messages ("пишите в лс", "DM me")."""
    for pattern, weight in ((_DM, W_DM), (_DM_MENTION, W_DM_MENTION)):
        match = pattern.search(text.key)
        if match:
            return [Evidence("dm-invitation", match.group().strip(), weight)]
    return []


def shady_offer(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Offers of counterfeit money, intimate photos, drugs or personal-data lookups."""
    match = _SHADY.search(text.key)
    return [Evidence("shady-offer", match.group(), W_SHADY)] if match else []


def _bot_link(link: str) -> str | None:
    if domain_of(link) not in _TG_HOSTS:
        return None
    path = _TG_PATH.split(link, maxsplit=1)[-1]
    name = _PATH_END.split(path, maxsplit=1)[0]
    return name if name.casefold().endswith("bot") else None


def bot_invitation(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Pointers to other bots: "@earn_bot" mentions and t.me/…bot links."""
    bots = [m for m in text.mentions if m.casefold().endswith("bot")]
    bots += [f"t.me/{name}" for link in text.links if (name := _bot_link(link))]
    return [Evidence("bot-invitation", bot, W_BOT) for bot in dict.fromkeys(bots)][:2]


def channel_invitation(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Calls to join a channel or group, including private t.me/+ invite links."""
    match = _CHANNEL.search(text.key)
    if match:
        weight = W_SELF_PROMOTION if _FIRST_PERSON.search(match.group()) else W_CHANNEL
        return [Evidence("channel-invitation", match.group(), weight)]
    invites = [link for link in text.links if _TG_INVITE.search(link)]
    return [Evidence("channel-invitation", invites[0], W_CHANNEL)] if invites else []


def money_lure(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Earning, investment and prize lures; each distinct kind adds weight."""
    return [
        Evidence("money-lure", match.group().strip(), weight)
        for pattern, weight in _LURES
        if (match := pattern.search(text.key))
    ]


def mixed_script(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Words spelled with look-alike letters of another alphabet ("зaработок")."""
    words = list(dict.fromkeys(text.mixed))[:4]
    return [
        Evidence("mixed-script", word, W_MIXED_FIRST if i == 0 else W_MIXED_MORE)
        for i, word in enumerate(words)
    ]


def disguised_lure(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Look-alike letters together with a lure: a deliberate filter dodge, hence strong."""
    if not text.mixed or not (money_lure(text, config) or dm_invitation(text, config)):
        return []
    return [Evidence("disguised-lure", text.mixed[0], W_DISGUISED_LURE)]


def emoji_flood(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """More emoji than the configured maximum."""
    if text.emoji <= config.max_emoji:
        return []
    weight = W_EMOJI if text.emoji <= 2 * config.max_emoji else W_EMOJI + 0.2
    return [Evidence("emoji-flood", str(text.emoji), weight)]


def caps_ratio(display: str) -> tuple[int, float]:
    """Number of letters and the share of them in upper case."""
    letters = [ch for ch in display if ch.isalpha()]
    if not letters:
        return 0, 0.0
    return len(letters), sum(ch.isupper() for ch in letters) / len(letters)


def _shouting(text: PreparedText, weight: float) -> list[Evidence]:
    if text.letters < _CAPS_MIN_LETTERS or text.upper_share < 0.7:
        return []
    return [Evidence("caps-shouting", f"{round(text.upper_share * 100)}%", weight)]


def caps_shouting(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """Mostly capital letters over a text long enough to be shouting rather than an acronym."""
    return _shouting(text, W_CAPS)


def contact_in_short_text(text: PreparedText, config: HeuristicConfig) -> list[Evidence]:
    """A phone number or @handle that makes up much of a short message."""
    if len(text.words) > _SHORT_WORDS:
        return []
    phone = _CONTACT_PHONE.search(text.display)
    # A leading @name addresses the person replied to; it does not advertise a contact.
    people = (
        m
        for m in text.mentions
        if not m.casefold().endswith("bot") and not text.display.startswith(m)
    )
    contact = phone.group() if phone else next(people, "")
    return [Evidence("contact-in-short-text", contact.strip(), W_CONTACT)] if contact else []


_SPAM_CHECKS: tuple[Callable[[PreparedText, HeuristicConfig], list[Evidence]], ...] = (
    dm_invitation,
    shady_offer,
    bot_invitation,
    channel_invitation,
    money_lure,
    mixed_script,
    disguised_lure,
    emoji_flood,
    caps_shouting,
    contact_in_short_text,
)


def _without_links(text: PreparedText) -> str:
    # "?" and words inside URLs ("?utm_source=") are not part of the question.
    key = text.key
    for link in text.links:
        key = key.replace(link.casefold(), " ")
    return key


def question_mark(text: PreparedText) -> list[Evidence]:
    """A question mark outside links; rhetorical questions use it too, so it is not decisive."""
    return [Evidence("question-mark", "", W_QUESTION_MARK)] if "?" in _without_links(text) else []


def _opening_words(sentence: str) -> list[str]:
    # "what's" opens like "what"; contractions keep their first part.
    words = [w.split("'")[0] for w in _WORD.findall(sentence)]
    while words and words[0] in _LEADING_FILLER:
        words.pop(0)
    return words[:4]


def _sentences(text: PreparedText) -> list[str]:
    return _SENTENCE.findall(_without_links(text))[:50]


def interrogative_start(text: PreparedText) -> list[Evidence]:
    """A sentence opening with an interrogative word (within its first three words)."""
    for sentence in _sentences(text):
        opening = _opening_words(sentence)
        strong = next((w for w in opening[:3] if w in _WH), None)
        if strong:
            return [Evidence("question-cue", strong, W_WH_START)]
        if opening and opening[0] in _AMBIGUOUS_WH:
            verb = len(opening) > 1 and _QUESTION_VERB.match(opening[1])
            weight = W_WH_START if verb else W_AMBIGUOUS_START
            return [Evidence("question-cue", opening[0], weight)]
    return []


def interrogative_inside(text: PreparedText) -> list[Evidence]:
    """An unambiguous interrogative later in a sentence ("а доставка сколько стоит")."""
    word = next((w for w in text.words[3:] if w in _INSIDE_WH), None)
    return [Evidence("question-cue", word, W_WH_INSIDE)] if word else []


def li_particle(text: PreparedText) -> list[Evidence]:
    """The Russian yes/no question particle: "есть ли", "можно ли", "работает ли"."""
    match = _LI.search(text.key)
    return [Evidence("question-cue", match.group(), W_LI)] if match else []


def request_form(text: PreparedText) -> list[Evidence]:
    """Polite requests for information: "подскажите", "хочу узнать", "I'd like to know"."""
    match = _REQUEST.search(text.key)
    return [Evidence("request-cue", match.group(), W_REQUEST)] if match else []


def want_form(text: PreparedText) -> list[Evidence]:
    """Needs and wishes that ask for help: "I would like to", "I need", "хочу вернуть"."""
    for sentence in _sentences(text):
        match = _WANT.search(sentence.strip())
        if match:
            return [Evidence("request-cue", match.group(), W_WANT)]
    return []


def auxiliary_inversion(text: PreparedText) -> list[Evidence]:
    """English yes/no questions: a sentence opening "can I", "do you", "is there"."""
    for sentence in _sentences(text):
        opening = " ".join(_opening_words(sentence) + _WORD.findall(sentence)[3:5])
        match = _AUX_START.search(opening)
        if match:
            return [Evidence("question-cue", match.group(), W_AUX)]
    return []


def question_evidence(text: PreparedText) -> list[Evidence]:
    """Every question cue found in a prepared text."""
    checks = (
        question_mark,
        interrogative_start,
        interrogative_inside,
        li_particle,
        request_form,
        want_form,
        auxiliary_inversion,
    )
    return [item for check in checks for item in check(text)]


def _negated(key: str, start: int) -> bool:
    # Only the word right before the cue: cheap, and it covers "не плохо" and "not bad".
    return bool(_NEGATION_BEFORE.search(key[max(0, start - 12) : start]))


def complaint_cues(text: PreparedText) -> list[Evidence]:
    """Complaint stems in Russian and English, skipping negated ones ("не плохо", "not bad")."""
    found: dict[str, Evidence] = {}
    for pattern, weight, negatable in _COMPLAINT_PATTERNS:
        for match in pattern.finditer(text.key):
            if negatable and _negated(text.key, match.start()):
                continue
            cue = match.group()
            found.setdefault(cue, Evidence("complaint-cue", cue, weight))
    return sorted(found.values(), key=lambda e: -e.weight)[:_MAX_COMPLAINTS]


def negative_tone(text: PreparedText) -> list[Evidence]:
    """Angry or sad emoji and bracket smileys, common in Russian complaints ("((")."""
    found: list[Evidence] = []
    emoji = _NEGATIVE_EMOJI.search(text.display)
    if emoji:
        found.append(Evidence("negative-emoji", emoji.group(), W_NEGATIVE_EMOJI))
    smiley = _SAD_SMILEY.search(text.display)
    if smiley:
        found.append(Evidence("sad-smiley", smiley.group(), W_SAD_SMILEY))
    return found


def intensity(text: PreparedText) -> list[Evidence]:
    """Repeated exclamation marks or shouting: weak on its own, joy is loud too."""
    found = [Evidence("exclamation", "", W_INTENSITY)] if _EXCLAIM.search(text.display) else []
    return found + _shouting(text, W_INTENSITY)


def negative_evidence(text: PreparedText) -> list[Evidence]:
    """Every negative cue found in a prepared text."""
    return [*complaint_cues(text), *negative_tone(text), *intensity(text)]
