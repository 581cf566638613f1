"""One emoji table for every renderer.

The neutral message text names emoji the way Slack does (``:warning:``). Slack shows the names
itself; Teams and the local workspace get the character from this table, so the three show the
same thing. A name not in the table is left as it was written.
"""

from __future__ import annotations

import re

EMOJI = {
    "tada": "🎉", "partying_face": "🥳", "fire": "🔥", "warning": "⚠️", "rotating_light": "🚨",
    "hourglass": "⌛", "hourglass_flowing_sand": "⏳", "snowflake": "❄️", "ice_cube": "🧊",
    "trophy": "🏆", "moneybag": "💰", "money_with_wings": "💸", "calendar": "📆", "date": "📅",
    "spiral_calendar_pad": "🗓️", "spiral_calendar": "🗓️", "white_check_mark": "✅",
    "heavy_check_mark": "✔️", "x": "❌", "leftwards_arrow_with_hook": "↩️", "arrow_right": "➡️",
    "arrow_left": "⬅️", "back": "🔙", "bell": "🔔", "star": "⭐", "rocket": "🚀",
    "chart_with_upwards_trend": "📈", "chart_with_downwards_trend": "📉", "bar_chart": "📊",
    "mega": "📣", "loudspeaker": "📢", "zzz": "💤", "handshake": "🤝", "clap": "👏", "eyes": "👀",
    "sparkles": "✨", "memo": "📝", "email": "✉️", "envelope": "✉️", "phone": "☎️",
    "telephone_receiver": "📞", "busts_in_silhouette": "👥", "bust_in_silhouette": "👤", "dart": "🎯",
    "boom": "💥", "bulb": "💡", "raised_hands": "🙌", "red_circle": "🔴", "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡", "large_green_circle": "🟢", "large_blue_circle": "🔵",
    "information_source": "ℹ️", "thinking_face": "🤔", "muscle": "💪", "medal": "🏅",
    "sports_medal": "🏅", "first_place_medal": "🥇", "alarm_clock": "⏰", "stopwatch": "⏱️",
    "clock9": "🕘", "mailbox": "📬", "inbox_tray": "📥", "outbox_tray": "📤", "crossed_swords": "⚔️",
    "no_entry": "⛔", "no_entry_sign": "🚫", "pushpin": "📌", "round_pushpin": "📍", "link": "🔗",
    "globe_with_meridians": "🌐", "earth_americas": "🌎", "earth_africa": "🌍", "microphone": "🎤",
    "studio_microphone": "🎙️", "tv": "📺", "label": "🏷️", "ticket": "🎫", "seedling": "🌱",
    "recycle": "♻️", "repeat": "🔁", "construction": "🚧", "thermometer": "🌡️", "scales": "⚖️",
    "wave": "👋", "point_right": "👉", "thumbsup": "👍", "+1": "👍", "heart": "❤️", "100": "💯",
    "gem": "💎", "briefcase": "💼", "office": "🏢", "speech_balloon": "💬", "mag": "🔍",
    "hammer_and_wrench": "🛠️", "gear": "⚙️", "lock": "🔒", "key": "🔑", "new": "🆕", "sos": "🆘",
    "small_blue_diamond": "🔹", "small_orange_diamond": "🔸", "large_blue_diamond": "🔷",
    "large_orange_diamond": "🔶",
}

EMOJI_RE = re.compile(r":([a-z0-9_+-]{1,40}):")


def emojize(text: str) -> str:
    """``:name:`` as its emoji character wherever the name is known."""
    if ":" not in text:
        return text
    return EMOJI_RE.sub(lambda m: EMOJI.get(m[1], m[0]), text)
