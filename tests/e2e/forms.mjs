// Filling the dashboard's forms as a person does, shared by the e2e scripts.

/** Sets field `name` of form (a locator) to value: picked from its select
 *  (data-testid=pick-NAME) when it offers the value, else typed after
 *  choosing "another ...", or typed when there is no picker. */
export async function pickOrType(form, name, value) {
  const pick = form.locator(`[data-testid=pick-${name}]`);
  if (await pick.count() && await pick.isVisible()) {
    const values = await pick.locator('option').evaluateAll((os) => os.map((o) => o.value));
    if (values.includes(value)) {
      await pick.selectOption(value);
      return 'picked';
    }
    await pick.selectOption('__other');
  }
  await form.locator(`[data-testid=input-${name}]`).fill(value);
  return 'typed';
}
