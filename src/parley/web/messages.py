"""The pages' strings, per language (English and Russian shipped).

A page asks :func:`messages` for its catalog in the language the viewer chose (``?lang=``) or
their browser prefers (``Accept-Language``), English when neither is shipped. Keys are the
same in every language; a test checks that no language lacks one.
"""

from __future__ import annotations

CATALOGS: dict[str, dict[str, str]] = {
    "en": {
        "phone.title": "Phone",
        "phone.heading": "Parley phone",
        "phone.sign_in": "Sign in",
        "phone.username": "User name",
        "phone.password": "Password",
        "phone.sign_in_failed": "Wrong user name or password.",
        "phone.sign_out": "Sign out",
        "phone.number": "Number",
        "phone.dial_pad": "Dial pad",
        "phone.call": "Call",
        "phone.answer": "Answer",
        "phone.reject": "Reject",
        "phone.hang_up": "Hang up",
        "phone.mute": "Mute",
        "phone.hold": "Hold",
        "phone.transfer_to": "Transfer to",
        "phone.transfer": "Transfer",
        "phone.status": "Status",
        "phone.signed_in_as": "Signed in as {user}; extension {extension}",
        "state.connecting": "Connecting…",
        "state.registered": "Ready: the phone is registered",
        "state.unregistered": "Not registered",
        "state.failed": "Registration failed: {cause}",
        "state.ringing": "Incoming call from {remote}",
        "state.calling": "Calling {remote}…",
        "state.talking": "In a call with {remote}",
        "state.held": "On hold: {remote}",
        "state.ended": "Call ended ({cause})",
        "state.no_microphone": "The browser gives the microphone only to a secure page: "
                               "open this page over HTTPS.",
    },
    "ru": {
        "phone.title": "Телефон",
        "phone.heading": "Телефон Parley",
        "phone.sign_in": "Войти",
        "phone.username": "Имя пользователя",
        "phone.password": "Пароль",
        "phone.sign_in_failed": "Неверное имя пользователя или пароль.",
        "phone.sign_out": "Выйти",
        "phone.number": "Номер",
        "phone.dial_pad": "Номеронабиратель",
        "phone.call": "Позвонить",
        "phone.answer": "Ответить",
        "phone.reject": "Отклонить",
        "phone.hang_up": "Завершить",
        "phone.mute": "Без звука",
        "phone.hold": "Удержание",
        "phone.transfer_to": "Перевести на",
        "phone.transfer": "Перевести",
        "phone.status": "Состояние",
        "phone.signed_in_as": "Вы вошли как {user}; номер {extension}",
        "state.connecting": "Подключение…",
        "state.registered": "Готов: телефон зарегистрирован",
        "state.unregistered": "Не зарегистрирован",
        "state.failed": "Регистрация не удалась: {cause}",
        "state.ringing": "Входящий звонок от {remote}",
        "state.calling": "Звоним {remote}…",
        "state.talking": "Разговор с {remote}",
        "state.held": "На удержании: {remote}",
        "state.ended": "Звонок завершён ({cause})",
        "state.no_microphone": "Браузер даёт микрофон только защищённой странице: "
                               "откройте её по HTTPS.",
    },
}
DEFAULT = "en"


def language(requested: str | None, accept_language: str | None) -> str:
    """The shipped language to show: ``requested`` (``?lang=``), else the first shipped one
    in ``Accept-Language``, else English."""
    if requested and requested in CATALOGS:
        return requested
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in CATALOGS:
            return code
    return DEFAULT


def messages(lang: str) -> dict[str, str]:
    """The catalog of ``lang`` (English for a language not shipped)."""
    return CATALOGS.get(lang, CATALOGS[DEFAULT])
