"""The VK adapter: Bots Long Poll in, API calls out; the only package that knows vk_api.

* `mapping.to_incoming(event, VkContext)`: pure event → `IncomingMessage` mapping.
* `client.VkClient`: community token (+ optional admin user token) behind `asyncio.to_thread`,
  with bounded retries and VK errors returned as data.
* `actions.VkActions`: the `Actions` port for one community.
* `runner.VkRunner`: the long-poll thread feeding an `Intake`, resuming from a `TsStore`.
* `session.VkSession`: the requests session that points vk_api at a configurable API base.
"""
