"""Prompts the decision benchmark plans: realistic English, no personal data unless stated."""

from __future__ import annotations

SYSTEM = (
    "You are an assistant for a city transport department. Answer in plain English, "
    "be concise, and say when the material does not support a conclusion."
)

REPORT = """\
Please summarise the following internal briefing for the transport committee in at most
eight bullet points, then list three open questions the committee should ask before it
votes. Keep the tone neutral and do not invent figures that are not in the text.

Briefing: Bus network redesign, phase two

Background. Over the past eighteen months the department has reviewed every bus route in
the city against three goals agreed by the committee: shorter average journey times,
better coverage of the outer districts, and a network that people can understand without
a timetable. The first phase, completed last spring, merged eleven overlapping routes in
the city centre into four high-frequency corridors that run every eight minutes or better
from early morning until late evening. Ridership on those corridors rose by roughly a
tenth in the first six months, while the number of complaints about missed connections
fell. Operating costs stayed within the approved budget because fewer buses were needed
to run the same number of trips once the duplicated sections were removed.

Proposal. Phase two extends the same approach to the northern and eastern districts. The
current network there is a set of long, winding routes that were designed decades ago to
serve factories that have since closed. Many of them run only twice an hour and take
indirect paths through residential streets, which makes journeys slow and unreliable. The
proposal replaces nine of these routes with three straighter corridors feeding a new
interchange at the railway station, supported by an on-demand minibus service for the
lower-density areas at the edge of the city. The corridors would run every ten minutes
during the day and every fifteen minutes in the evening. The on-demand service would be
booked by phone or through the existing travel app and would connect riders to the
nearest corridor stop or to the local health centre.

Expected effects. Modelling by the planning team suggests that about seventy percent of
residents in the affected districts would see shorter door-to-door journey times to the
city centre, mostly because of higher frequencies and fewer detours. Around fifteen
percent would see little change. The remaining group, concentrated in two hillside
neighbourhoods, would walk further to reach a stop and would depend on the on-demand
service for trips that are currently direct. The team notes that older residents and
people with reduced mobility are over-represented in those neighbourhoods, and that the
success of the proposal for them depends on how reliable the on-demand service is in
practice, especially in winter.

Costs and funding. The capital cost covers the new interchange, twenty-two upgraded stops
with shelters and real-time displays, and eight accessible minibuses for the on-demand
service. The regional transport fund has indicated that it would meet about half of the
capital cost if the committee approves the plan before the end of the financial year.
Annual operating costs are expected to rise modestly, mainly because of the on-demand
drivers, partly offset by savings from retiring the least-used route sections. The
finance office has asked for a sensitivity analysis showing the effect of ridership
growth that is half of the modelled figure.

Consultation. A twelve-week public consultation drew several thousand responses, a
majority of them supportive of higher frequencies. The most common concerns were the
longer walk to stops in the hillside areas, the loss of a direct route to the western
shopping district, safety at the interchange late at night, and whether the on-demand
service could cope with demand on market days. Schools asked that the first corridor
journeys of the morning be timed to match the start of the school day. Two residents'
associations asked for a trial period with a formal review before the old routes are
withdrawn permanently.

Risks. The main delivery risks are the construction schedule at the interchange, which
depends on a land agreement with the railway operator, and the recruitment of drivers,
which has been difficult across the region. The planning team recommends a staged launch:
the two eastern corridors first, with the on-demand service, and the northern corridor
six months later once the interchange is complete. It also recommends publishing monthly
figures on punctuality, ridership and on-demand waiting times during the first year, so
that the committee can decide on adjustments based on evidence rather than anecdotes.

Decision requested. The committee is asked to approve the phase two network in principle,
authorise the bid to the regional fund, and instruct officers to return with a detailed
timetable, an accessibility assessment for the hillside neighbourhoods, and the
sensitivity analysis requested by the finance office.

Format. Start with one sentence that states the decision requested. Use plain bullet
points, no tables, and mark any point where the briefing gives no figure with the words
"not quantified". End with the three open questions, numbered.
"""

PII_NOTE = (
    "\n\nOne more thing: a resident asked us to confirm a refund for a season ticket. Her "
    "e-mail is maria.keller@example.org and the card on file ends in the number "
    "4111 1111 1111 1111. Draft a two-line reply we can send her."
)


def messages(user: str) -> list[dict[str, str]]:
    """A short system message plus one user message."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
