// The built-in training text of the quickstart demo: a short fable written for seqlm and
// placed in the public domain by its authors (CC0), so the demo runs with no download.
#pragma once

namespace seqlm_demo {

inline constexpr const char* text = R"(The Lighthouse Keeper and the Sea

There was once a lighthouse on a rock at the end of the world, and in the lighthouse there
lived a keeper who counted the waves. Every night he climbed the stairs, one hundred and
twelve of them, and every night he lit the lamp, and the lamp turned and turned above the
dark water. The sea came to the rock and went away again, and the keeper wrote down what
the sea had said.

On Monday the sea said: the wind is from the west, and the boats are coming home.
On Tuesday the sea said: the wind is from the north, and the boats are staying in.
On Wednesday the sea said nothing at all, and the keeper wrote down the nothing, because a
careful keeper writes down everything, even the things that are not there.

One evening a small boat came to the rock. In the boat there was a girl with a lantern,
and she called up to the keeper: "Why do you count the waves? The waves do not need you to
count them. They come whether you count them or not."

The keeper came down the stairs, one hundred and twelve of them, and he looked at the girl
and at her lantern. "The waves do not need me," he said, "but the boats need the light,
and the light needs someone who is awake. I count the waves so that I stay awake. When I
stop counting, I fall asleep, and when I fall asleep, the lamp goes out."

The girl thought about this for a long time. Then she tied her boat to the rock and climbed
the stairs with him, one hundred and twelve of them, and she sat beside the lamp and
counted the waves with him. She counted the small waves and he counted the large ones, and
together they counted the whole sea.

On Thursday the sea said: the wind is from the south, and the fish are coming up.
On Friday the sea said: the wind is from the east, and the rain is coming soon.
On Saturday the sea said: the keeper is not alone any more.
On Sunday the sea said nothing at all, and the girl wrote down the nothing, because she
had become a careful keeper too.

Years went by. The keeper grew old and the girl grew tall. The lamp turned and turned above
the dark water, and not one night did it go out. The boats came home in the west wind and
stayed in with the north wind, and the fishermen said to their children: there is a light
at the end of the world, and two people who count the waves.

When the old keeper could no longer climb the stairs, the girl climbed them for him, one
hundred and twelve of them, and she lit the lamp, and she counted the waves, the small ones
and the large ones. And in the evening she came down and told him what the sea had said.

"What did the sea say today?" he asked.

"The sea said that the wind is from the west," she answered, "and that the boats are coming
home."

"That is a good day," said the old keeper, and he closed his eyes, and he listened to the
waves, and he did not need to count them any more, because someone else was awake.
)";

}  // namespace seqlm_demo
